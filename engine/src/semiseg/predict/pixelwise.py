"""The pixel forest of a model, computed once per pixel rather than once per overlapping window.

A forest answers for each pixel from the filter features of its neighbourhood (models/forest.py):
unlike a network's, its answer does not depend on the window it is computed in, except where a
window's edge cuts a filter (padded by replication there). The predictor's windows overlap, by
half by default, so every pixel lies in about four of them, and in eight times as many with
test-time augmentation (the features are invariant under a window's quarter turns and flips):
a forest computed per window repeats each pixel's filter bank and tree traversal four to 32
times. Here it runs once, on the rows a strip of windows finalizes (predict/raster.py), in
pieces read with a halo of its largest filter's reach, so a pixel's features see its real
neighbours (a piece's edge cuts no filter of a pixel it returns; at the raster's edge the bank
replicates as before).

A blend's map stays what it was: p = (1 - w) p_network + w p_forest (models/blend.py) is linear,
so the weighted mean over windows of the blend is the same mix of the network's blended windows
and the forest's pixel. A forest alone (a Quick map) is the blend at w = 1 without a network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from rasterio.windows import Window

from semiseg.io.rasters import read_window
from semiseg.models.blend import ForestBlend
from semiseg.models.filter_bank import coarse_factor, context_radius
from semiseg.models.forest import PixelForest
from semiseg.models.package import ModelCard

# Rows computed at a time: a strip finalizes as few as half a window's rows (64 for 128-px
# windows), and a halo above and below each of those would cost more than it saves.
_BAND_ROWS = 256
# Output pixels of one piece of a band (a 512-px window's worth): its features, 4 bytes x 147
# per RGB pixel plus the halo's, stay near the memory of one window of the per-window forest.
_PIECE_PIXELS = 512 * 512


@dataclass(frozen=True)
class PixelwisePart:
    """A model's forest and its weight in the blend (1: the forest alone)."""

    forest: PixelForest
    weight: float


def split_model(model: nn.Module) -> tuple[nn.Module | None, PixelwisePart | None]:
    """(the part computed per window, the part computed per pixel) of a model: a network alone
    is all windowed, a forest alone all pixelwise, a blend both."""
    if isinstance(model, PixelForest):
        return None, PixelwisePart(model, 1.0)
    if isinstance(model, ForestBlend):
        return model.network, PixelwisePart(model.forest, model.weight)
    return model, None


def halo(forest: PixelForest) -> int:
    """Context read around a piece: the reach of the largest filter, rounded up to whole cells of
    the coarsest grid a scale is computed on, so every piece's coarse cells are the same cells of
    the raster (filter_bank.py pools from the piece's corner)."""
    step = coarse_factor(max(forest.scale_tuple))
    return -(-context_radius(forest.scale_tuple) // step) * step


class PixelwiseRows:
    """The forest's class probabilities of rows of a region of an open raster, asked for top to
    bottom (as a strip finalizes them), computed a band of _BAND_ROWS rows at a time."""

    def __init__(self, ds, card: ModelCard, part: PixelwisePart, origin: tuple[int, int], device: torch.device, height: int):
        """`origin`: the raster pixel (row, col) of the region's pixel (0, 0); `height`: the
        region's rows (a band stops there)."""
        self.ds, self.card, self.part, self.origin, self.device, self.height = ds, card, part, origin, device, height
        self.halo = halo(part.forest)
        self.step = coarse_factor(max(part.forest.scale_tuple))
        self._band: tuple[int, int, int, np.ndarray] | None = None  # (top, left, cols, probabilities)

    def probabilities(self, top: int, rows: int, left: int, cols: int) -> np.ndarray:
        """(classes, rows, cols) float32 for the region's rows [top, top + rows) and columns
        [left, left + cols); 0 where no pixel of a piece is valid."""
        band = self._band
        if band is None or (band[1], band[2]) != (left, cols) or top < band[0] or top + rows > band[0] + band[3].shape[1]:
            height = max(rows, min(_BAND_ROWS, self.height - top))
            band = self._band = (top, left, cols, self._compute(top, height, left, cols))
        return band[3][:, top - band[0] : top - band[0] + rows]

    def _compute(self, top: int, rows: int, left: int, cols: int) -> np.ndarray:
        out = np.zeros((self.part.forest.num_classes, rows, cols), np.float32)
        width = max(self.step, _PIECE_PIXELS // rows // self.step * self.step)
        for c in range(0, cols, width):
            out[:, :, c : c + width] = self._piece(top, rows, left + c, min(width, cols - c))
        return out

    def _piece(self, top: int, rows: int, left: int, cols: int) -> np.ndarray:
        r0, c0 = self.origin[0] + top, self.origin[1] + left  # raster pixel of the piece's corner
        read_r0, read_c0 = self._start(r0), self._start(c0)
        read_r1, read_c1 = min(self.ds.height, r0 + rows + self.halo), min(self.ds.width, c0 + cols + self.halo)
        data, valid = read_window(self.ds, Window(read_c0, read_r0, read_c1 - read_c0, read_r1 - read_r0), self.card.bands)
        core = (slice(None), slice(r0 - read_r0, r0 - read_r0 + rows), slice(c0 - read_c0, c0 - read_c0 + cols))
        if not valid[core[1:]].any():
            return np.zeros((self.part.forest.num_classes, rows, cols), np.float32)
        image = torch.from_numpy(self.card.stats.apply(data) * valid).to(self.device)
        probs = self.part.forest.row_probabilities(image, torch.from_numpy(valid).to(self.device), core[1])
        return probs[:, :, core[2]]

    def _start(self, pixel: int) -> int:
        """The first raster pixel read before `pixel`: a halo back, on a coarse cell's corner."""
        return max(0, (pixel - self.halo) // self.step * self.step)
