"""Which floating-point precision training runs in (job.json train.precision)."""

from __future__ import annotations

import torch

from semiseg.devices import cpu_has_native_bf16


def lightning_precision(setting: str, accelerator: str) -> str:
    """Lightning's precision for a setting: `auto` uses bfloat16 mixed precision where the hardware
    has it (a bf16-capable GPU, a CPU with native bfloat16), float32 elsewhere."""
    if setting == "bf16":
        return "bf16-mixed"
    if setting == "auto":
        native = torch.cuda.is_bf16_supported(including_emulation=False) if accelerator == "gpu" else cpu_has_native_bf16()
        return "bf16-mixed" if native else "32-true"
    return "32-true"
