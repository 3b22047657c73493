"""A network that sees the pixel forest's class probabilities beside the bands (auto-context).

The forest (models/forest.py) knows each pixel's colour and texture at scales up to 10 px; the
network knows shapes and context but learns them from few labels. Stacked, the network's input
is the normalized bands followed by one channel per class, the forest's probability of it, so
it can keep what the forest gets right and fix what a per-pixel classifier cannot see (speckle,
shadows, object outlines) - ilastik's auto-context, with a network as the second stage.

Training reads the forest's probabilities from maps the job writes first (pipeline/forest_maps.py,
out of fold where the forest learnt: train/forest_folds.py); a finished model computes them
itself, window by window, so its package predicts any raster like every other model. The
package holds both parts: the network's tensors under `network.`, the forest's under `forest.`
(model.json `forest_context` true).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from semiseg.models.forest import PixelForest


class ForestContext(nn.Module):
    wants_valid_mask = True  # the forest reads it (models/forest.py)

    def __init__(self, network: nn.Module, forest: PixelForest):
        super().__init__()
        self.network, self.forest = network, forest

    def forward(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """The network's class logits for the bands and the forest's probabilities stacked."""
        return self.network(with_context(images, self.forest(images, valid).exp(), valid))


def with_context(images: torch.Tensor, probabilities: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """(N, bands + classes, H, W): the context channels are zero on nodata, like the bands."""
    if valid is not None:
        probabilities = probabilities * valid[:, None].to(probabilities.dtype)
    return torch.cat([images, probabilities.to(images.dtype)], 1)
