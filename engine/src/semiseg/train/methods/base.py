"""What every training method provides.

A method owns its networks and turns one batch into a loss; the shared Lightning module
(train/task.py) does the optimisation, schedule and per-step randomness, train/callbacks.py the
checkpoints, validation and events, pipeline/runner.py the export.
A method's loss should be readable top to bottom in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
import torch.nn as nn
from pydantic import BaseModel, ConfigDict


# A parameter's `json_schema_extra`: one a user should try first (clients list it on top).
# Every parameter's `description` is its one line in `semiseg methods --json` (the dock's tooltips):
# what it does and which way a larger value moves the result.
KEY = {"key": True}


class MethodParams(BaseModel):
    """Base of every method's parameters (the keys of job.json `method` beside `name`)."""

    model_config = ConfigDict(extra="forbid")

    def problems(self, class_names: list[str]) -> list[str]:
        """Checks that need the job's class names, those of every domain (field checks are pydantic's); one line each."""
        return []


@dataclass(frozen=True)
class DomainInfo:
    """One label space of the job (job.json `domains`; a plain job has one, named "default")."""

    name: str
    class_names: list[str]
    in_channels: int


@dataclass(frozen=True)
class MethodContext:
    """What a method needs to build its networks: the job's domains (a plain job is one, named
    "default"), the length of the run, and the job's network for any number of input channels
    and classes.

    One-domain methods read the first domain through `in_channels`, `num_classes`,
    `class_names` and `network(classes)`; methods that `supports_domains` go over `domains`.
    The last `context_channels` of the network's input are not bands but the pixel forest's
    class probabilities (`forest_context`): photometric perturbations must leave them as they are.
    """

    domains: tuple[DomainInfo, ...]
    total_steps: int
    build_network: Callable[[int, int], nn.Module]  # (in_channels, classes) -> a fresh smp network of this job
    context_channels: int = 0

    @property
    def domain(self) -> DomainInfo:
        return self.domains[0]

    @property
    def in_channels(self) -> int:
        """The first domain's network input: its bands, then any context channels."""
        return self.domain.in_channels + self.context_channels

    @property
    def num_classes(self) -> int:
        return len(self.domain.class_names)

    @property
    def class_names(self) -> list[str]:
        return self.domain.class_names

    def network(self, classes: int) -> nn.Module:
        """A fresh network for the first domain's input with `classes` outputs."""
        return self.build_network(self.in_channels, classes)


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
    trains_network: ClassVar[bool] = True  # False: a pixel classifier (pixel_forest), fitted by train/forest.py
    uses_unlabeled: ClassVar[bool] = False
    default_arch: ClassVar[str] = "unet"  # used when job.json leaves model.arch out
    supports_domains: ClassVar[bool] = False  # trains several label spaces (job.json `domains`) at once
    needs_domains: ClassVar[bool] = False  # only worth it with several label spaces: clients offer it for such jobs only

    def __init__(self, ctx: MethodContext, params: MethodParams):
        super().__init__()
        self.ctx = ctx
        self.params = params

    def training_loss(self, batch: dict, step: StepInfo) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss for one batch and the named parts worth logging.

        `batch["labeled"]` has image (B,C,H,W), label (B,H,W) with 255 = ignore, valid (B,H,W);
        `batch["unlabeled"]` (only when `uses_unlabeled`) has image and valid. A method that
        `supports_domains` gets `batch["domains"][name]` for each domain instead (a plain job:
        the one domain), each holding that domain's "labeled" and "unlabeled".
        """
        raise NotImplementedError

    def inference_network(self) -> nn.Module:
        """The network that maps images to class logits: validated, exported, used to predict."""
        raise NotImplementedError

    def start_from(self, weights: dict[str, torch.Tensor]) -> None:
        """Load a model package's weights (job.json model.init_from) before training."""
        self.inference_network().load_state_dict(weights)

    def inference_networks(self) -> dict[str, nn.Module]:
        """One such network per domain (name -> network); one-domain methods have just the one."""
        return {self.ctx.domain.name: self.inference_network()}

    def second_opinions(self) -> dict[str, nn.Module]:
        """Per domain, a network trained beside the inference network whose disagreement with
        it marks where labels are missing (models/second_opinion.py); none for most methods."""
        return {}

    def after_optimizer_step(self, step: StepInfo) -> None:
        """Hook for state that follows the weights (e.g. an EMA teacher)."""
