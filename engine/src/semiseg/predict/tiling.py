"""The tiling arithmetic of sliding-window prediction, in one place.

Windows overlap by `overlap`; the last window of a row/column is snapped to the raster's
edge so every pixel is covered; a raster smaller than a tile gets one padded window.
Probabilities are blended with a smooth weight that falls towards each window's border,
so overlapping windows meet without seams.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Keeps weights positive at a window's border (pixels there may be covered by that window alone).
_WEIGHT_FLOOR = 1e-3


def axis_offsets(extent: int, tile: int, overlap: float) -> list[int]:
    if extent <= tile:
        return [0]
    stride = max(1, int(round(tile * (1 - overlap))))
    offsets = list(range(0, extent - tile + 1, stride))
    if offsets[-1] != extent - tile:
        offsets.append(extent - tile)
    return offsets


@dataclass(frozen=True)
class TileGrid:
    height: int
    width: int
    tile: int
    overlap: float

    @cached_property
    def row_offsets(self) -> list[int]:
        return axis_offsets(self.height, self.tile, self.overlap)

    @cached_property
    def col_offsets(self) -> list[int]:
        return axis_offsets(self.width, self.tile, self.overlap)

    @property
    def buffer_width(self) -> int:
        """Width of a strip buffer: the raster's, or one tile if the raster is narrower."""
        return max(self.width, self.tile)

    @cached_property
    def weight(self) -> np.ndarray:
        """(tile, tile) blending weight: a squared sine bump, highest at the centre."""
        ramp = np.sin(np.pi * (np.arange(self.tile) + 0.5) / self.tile) ** 2
        return (np.outer(ramp, ramp) + _WEIGHT_FLOOR).astype(np.float32)

    def __len__(self) -> int:
        return len(self.row_offsets) * len(self.col_offsets)
