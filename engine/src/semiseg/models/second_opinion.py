"""A second network that should agree with the exported one, and where it does not.

A mean teacher exports its teacher, the running average of the student's weights. Where the
two still disagree after training, the last steps kept changing the prediction: the labels
there did not settle it, so a label there teaches the model most (issue 29's suggestions use
it beside the margin of the probabilities). The package keeps the student's network tensors in
STUDENT_FILE; any forest of the package (blended, or as context) is shared by both, so the
second opinion is the same kind of model with the student's network in the teacher's place.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from semiseg.models.blend import ForestBlend
from semiseg.models.context import ForestContext

STUDENT_FILE = "student.safetensors"


def network_of(model: nn.Module) -> nn.Module:
    """The trained network inside `model` (itself, or the network beside its forest)."""
    return model.network if isinstance(model, (ForestBlend, ForestContext)) else model


def with_network(model: nn.Module, network: nn.Module, forest: nn.Module | None = None) -> nn.Module:
    """`model` of the same kind with `network` as its network, its forest (if any) shared, or
    `forest` in its place."""
    if isinstance(model, ForestBlend):
        return ForestBlend(network, forest or model.forest, model.weight).eval()
    if isinstance(model, ForestContext):
        return ForestContext(network, forest or model.forest).eval()
    return network.eval()


class _OncePerWindow(nn.Module):
    """A forest asked twice for the same window (by a context model and its second opinion)
    computes it once: its filter bank and trees are the slow part of such a model's prediction."""

    wants_valid_mask = True

    def __init__(self, forest: nn.Module):
        super().__init__()
        self.forest = forest
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        if self._last is None or self._last[0] is not images:
            self._last = (images, self.forest(images, valid))
        return self._last[1]


def sharing_the_forest(model: nn.Module, second: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The pair to predict with, the one context forest of both computed once per window when
    both are given the same window in turn (WindowPredictor); the modules passed in are left as
    they are. Only a context model's forest is computed per window: a blend's runs once per
    pixel, outside the windows (predict/pixelwise.py), and its weight takes it out of the
    disagreement."""
    forest = getattr(model, "forest", None)
    if not isinstance(model, ForestContext) or getattr(second, "forest", None) is not forest:
        return model, second
    shared = _OncePerWindow(forest)
    return with_network(model, model.network, shared), with_network(second, second.network, shared)


def student_path(folder: Path) -> Path:
    return Path(folder) / STUDENT_FILE


def disagreement(p_model: torch.Tensor, p_second: torch.Tensor) -> torch.Tensor:
    """Total variation between two (N, classes, H, W) probability maps, per pixel, (N, 1, H, W):
    0 where they agree, 1 where they put all their weight on different classes."""
    return 0.5 * (p_model - p_second).abs().sum(1, keepdim=True)
