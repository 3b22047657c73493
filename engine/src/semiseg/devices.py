"""Which device a command runs on: one reading of `--device` for train, predict and the demo."""

from __future__ import annotations

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
