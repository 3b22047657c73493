"""Which floating-point precision training runs in (job.json train.precision)."""

from __future__ import annotations

from pathlib import Path

import torch


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """AVX512-BF16 or AMX: the CPU multiplies bfloat16 in hardware (Linux lists the flags).

    Without them bfloat16 is emulated and slower than float32, so `auto` keeps float32.
    """
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def lightning_precision(setting: str, accelerator: str) -> str:
    """Lightning's precision for a setting: `auto` uses bfloat16 mixed precision where the hardware
    has it (a bf16-capable GPU, a CPU with native bfloat16), float32 elsewhere."""
    if setting == "bf16":
        return "bf16-mixed"
    if setting == "auto":
        native = torch.cuda.is_bf16_supported(including_emulation=False) if accelerator == "gpu" else cpu_has_native_bf16()
        return "bf16-mixed" if native else "32-true"
    return "32-true"
