"""Which device a command runs on (one reading of `--device` for train, predict and the demo),
and whether it computes in bfloat16 natively."""

from __future__ import annotations

from pathlib import Path

import torch

from semiseg.errors import UserError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def resolve_device(name: str) -> torch.device:
    """`auto` is the GPU when there is one; a CUDA device that is not there is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: no CUDA device is available here (see `semiseg doctor`)")
        return torch.device(name)
    raise UserError(f"--device {name}: expected {DEVICE_CHOICES}")


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """AVX512-BF16 or AMX: the CPU multiplies bfloat16 in hardware (Linux lists the flags).

    Without them bfloat16 is emulated and slower than float32, so `auto` keeps float32.
    """
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def native_bf16(device: torch.device) -> bool:
    """`device` computes bfloat16 in hardware: a GPU from Ampere on, a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and cpu_has_native_bf16()


def uses_bf16(precision: str, device: torch.device) -> bool:
    """A prediction's precision setting (`auto`, `32`, `bf16`) on `device`: `auto` is bfloat16 on
    a GPU that computes it natively, float32 on a CPU: on a CPU with native bfloat16 it was 2.75x
    faster on 512-px windows but 0.88x on 128-px ones through the whole of `semiseg predict`
    (docs/benchmarks.md, speed (e)), so it is asked for, not assumed."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda" and native_bf16(device))
