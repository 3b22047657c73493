"""A network and the pixel forest as one model: their class probabilities averaged.

The two err differently: the forest on per-pixel texture and colour without context, the
network with context but from few labels. Averaging the probabilities,
p = (1 - w) p_network + w p_forest, gave a better map than either on the development splits
(docs/benchmarks.md). The package holds both: the network's tensors under `network.`, the
forest's arrays under `forest.` (model.json `forest_blend` = w).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from semiseg.models.forest import PixelForest


# The weights `blend_on_validation` chooses from (train/methods/pseudo.py): 0 is the network alone, 1 the forest.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


class ForestBlend(nn.Module):
    wants_valid_mask = True  # the forest reads it (models/forest.py)

    def __init__(self, network: nn.Module, forest: PixelForest, weight: float):
        super().__init__()
        self.network, self.forest, self.weight = network, forest, float(weight)

    def forward(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Log of the blended class probabilities (a softmax of it gives them back)."""
        p_network, p_forest = self.probabilities(images, valid)
        return torch.log(blend(p_network, p_forest, self.weight).clamp_min(1e-12))

    def probabilities(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Each part's class probabilities, (network, forest)."""
        return self.network(images).float().softmax(1), self.forest(images, valid).exp()


def blend(p_network: torch.Tensor, p_forest: torch.Tensor, weight: float) -> torch.Tensor:
    return (1 - weight) * p_network + weight * p_forest


def split_tensors(tensors: dict[str, torch.Tensor], part: str) -> dict[str, torch.Tensor]:
    """The tensors of one part (`network` or `forest`) of a blended package, without the prefix."""
    prefix = part + "."
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
