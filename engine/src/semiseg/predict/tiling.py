"""The tiling arithmetic of sliding-window prediction, in one place.

Windows overlap by `overlap`; the last window of a row/column is snapped to the raster's
edge so every pixel is covered; a raster smaller than a tile gets one padded window.
Probabilities are blended with a smooth weight that falls towards each window's border,
so overlapping windows meet without seams.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

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


@cache
def window_weight(tile: int) -> np.ndarray:
    """(tile, tile) blending weight: a squared sine bump, highest at the centre (one array per
    size, shared: read it, never write it)."""
    ramp = np.sin(np.pi * (np.arange(tile) + 0.5) / tile) ** 2
    weight = (np.outer(ramp, ramp) + _WEIGHT_FLOOR).astype(np.float32)
    weight.setflags(write=False)
    return weight


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

    @property
    def weight(self) -> np.ndarray:
        return window_weight(self.tile)

    def __len__(self) -> int:
        return len(self.row_offsets) * len(self.col_offsets)

    def covering(self, top: int, left: int, height: int, width: int) -> "SubGrid":
        """This grid's windows that overlap rows [top, top + height) and columns [left, left +
        width): every window that touches those pixels, so the pixels blend exactly as in the
        whole grid (the same windows, added in the same order)."""
        rows = [r for r in self.row_offsets if r < top + height and r + self.tile > top]
        cols = [c for c in self.col_offsets if c < left + width and c + self.tile > left]
        row0, col0 = rows[0], cols[0]
        return SubGrid(
            self.tile, tuple(r - row0 for r in rows), tuple(c - col0 for c in cols),
            min(rows[-1] + self.tile, self.height) - row0, min(cols[-1] + self.tile, self.width) - col0, (row0, col0),
        )


@dataclass(frozen=True)
class SubGrid:
    """Some windows of a TileGrid, as a grid of their own: offsets from `origin` (row, col), the
    first window's place in the whole grid; `height` x `width` is the span they cover, cut at the
    whole grid's edge. Predicted like a TileGrid (predict/raster.py's iter_strips)."""

    tile: int
    row_offsets: tuple[int, ...]
    col_offsets: tuple[int, ...]
    height: int
    width: int
    origin: tuple[int, int]

    @property
    def buffer_width(self) -> int:
        return max(self.width, self.tile)

    @property
    def weight(self) -> np.ndarray:
        return window_weight(self.tile)

    def __len__(self) -> int:
        return len(self.row_offsets) * len(self.col_offsets)
