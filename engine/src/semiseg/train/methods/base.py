"""What every training method provides.

A method owns its networks and turns one batch into a loss; the shared loop
(train/task.py) does optimisation, checkpoints, validation, events and export.
A method's loss should be readable top to bottom in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
import torch.nn as nn
from pydantic import BaseModel, ConfigDict


class MethodParams(BaseModel):
    """Base of every method's parameters (the keys of job.json `method` beside `name`)."""

    model_config = ConfigDict(extra="forbid")

    def problems(self, class_names: list[str]) -> list[str]:
        """Checks that need the job's classes (field checks are pydantic's); one line each."""
        return []


@dataclass(frozen=True)
class MethodContext:
    """What a method needs to build its networks."""

    in_channels: int
    num_classes: int
    class_names: list[str]
    total_steps: int
    build_network: Callable[[int], nn.Module]  # classes -> a fresh smp network for this job


@dataclass(frozen=True)
class StepInfo:
    """Where training is; `generator` is seeded by (seed, step) so randomness survives a resume."""

    step: int
    total_steps: int
    generator: torch.Generator

    @property
    def progress(self) -> float:
        return min(1.0, self.step / max(1, self.total_steps))


class Method(nn.Module):
    Params: ClassVar[type[MethodParams]] = MethodParams
    uses_unlabeled: ClassVar[bool] = False
    default_arch: ClassVar[str] = "unet"  # used when job.json leaves model.arch out

    def __init__(self, ctx: MethodContext, params: MethodParams):
        super().__init__()
        self.ctx = ctx
        self.params = params

    def training_loss(self, batch: dict, step: StepInfo) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss for one batch and the named parts worth logging.

        `batch["labeled"]` has image (B,C,H,W), label (B,H,W) with 255 = ignore, valid (B,H,W);
        `batch["unlabeled"]` (only when `uses_unlabeled`) has image and valid.
        """
        raise NotImplementedError

    def inference_network(self) -> nn.Module:
        """The network that maps images to class logits: validated, exported, used to predict."""
        raise NotImplementedError

    def after_optimizer_step(self, step: StepInfo) -> None:
        """Hook for state that follows the weights (e.g. an EMA teacher)."""
