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


class ForestBlend(nn.Module):
    wants_valid_mask = True  # the forest reads it (models/forest.py)

    def __init__(self, network: nn.Module, forest: PixelForest, weight: float):
        super().__init__()
        self.network, self.forest, self.weight = network, forest, float(weight)

    def forward(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Log of the blended class probabilities (a softmax of it gives them back)."""
        p_network = self.network(images).float().softmax(1)
        p_forest = self.forest(images, valid).exp()
        return torch.log(((1 - self.weight) * p_network + self.weight * p_forest).clamp_min(1e-12))


def split_tensors(tensors: dict[str, torch.Tensor], part: str) -> dict[str, torch.Tensor]:
    """The tensors of one part (`network` or `forest`) of a blended package, without the prefix."""
    prefix = part + "."
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
