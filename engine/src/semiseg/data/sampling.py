"""Where training windows come from.

Labelled windows are centred (with jitter) on labelled pixels, so sparse scribbles are
actually seen; with class balancing each class is picked equally often, so rare classes
(buildings, roads) are not drowned. Unlabelled windows come from anywhere in any raster.
Every choice is drawn from a generator the caller seeds per sample, so a sample is the
same whichever worker draws it and whether or not the run was resumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


MAX_PIXELS_PER_CLASS = 200_000


@dataclass(frozen=True)
class WindowPosition:
    raster: int
    row: int
    col: int


class LabeledPixelIndex:
    """A bounded random subset of labelled pixel positions, per class and raster."""

    def __init__(self, label_maps: list[np.ndarray], num_classes: int, seed: int, class_balanced: bool = True):
        rng = np.random.default_rng([seed, 13])
        self.shapes = [ids.shape for ids in label_maps]
        self.class_balanced = class_balanced
        self.positions: dict[int, list[tuple[int, np.ndarray]]] = {}
        self.counts = np.zeros(num_classes, dtype=np.int64)
        for r, ids in enumerate(label_maps):
            flat = ids.ravel()
            for c in range(num_classes):
                where = np.flatnonzero(flat == c)
                if where.size == 0:
                    continue
                self.counts[c] += where.size
                if where.size > MAX_PIXELS_PER_CLASS:
                    where = rng.choice(where, MAX_PIXELS_PER_CLASS, replace=False)
                self.positions.setdefault(c, []).append((r, where))
        self.classes = sorted(self.positions)

    def draw_pixel(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """(raster, row, col) of a labelled pixel."""
        if self.class_balanced:
            c = self.classes[int(rng.integers(len(self.classes)))]
        else:
            weights = self.counts[self.classes] / self.counts[self.classes].sum()
            c = self.classes[int(rng.choice(len(self.classes), p=weights))]
        groups = self.positions[c]
        sizes = np.array([len(where) for _, where in groups], dtype=float)
        r, where = groups[int(rng.choice(len(groups), p=sizes / sizes.sum()))]
        flat = int(where[int(rng.integers(len(where)))])
        width = self.shapes[r][1]
        return r, flat // width, flat % width


def window_around(rng: np.random.Generator, row: int, col: int, height: int, width: int, tile: int) -> tuple[int, int]:
    """Top-left of a `tile` window containing (row, col) at a random place, kept inside the raster."""
    top = row - int(rng.integers(tile))
    left = col - int(rng.integers(tile))
    return _clamp(top, height, tile), _clamp(left, width, tile)


def random_window(rng: np.random.Generator, sizes: list[tuple[int, int]], tile: int) -> WindowPosition:
    """A window anywhere; rasters are picked in proportion to their area."""
    areas = np.array([h * w for h, w in sizes], dtype=float)
    r = int(rng.choice(len(sizes), p=areas / areas.sum()))
    h, w = sizes[r]
    return WindowPosition(r, _clamp(int(rng.integers(max(1, h - tile + 1))), h, tile), _clamp(int(rng.integers(max(1, w - tile + 1))), w, tile))


def _clamp(start: int, extent: int, tile: int) -> int:
    if extent <= tile:  # raster smaller than a tile: centre it; the rest is padding
        return -((tile - extent) // 2)
    return min(max(start, 0), extent - tile)
