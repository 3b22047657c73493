"""Sparse labels the way people draw them, derived from a dense mask.

Short strokes (and a few small regions) well inside each class's areas: what an analyst
scribbles in QGIS, for demos and for measuring methods at a realistic label budget.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from affine import Affine
from shapely.geometry import LineString, box


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels at least `radius` px inside the mask (square structuring element)."""
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    eroded = -F.max_pool2d(-t, 2 * radius + 1, stride=1, padding=radius)
    return eroded[0, 0].numpy() > 0.5


def random_stroke(rng: np.random.Generator, inside: np.ndarray, start: tuple[int, int], length: int) -> list[tuple[int, int]]:
    """A wandering path of (row, col) points that stays inside `inside`."""
    r, c = start
    angle = rng.uniform(0, 2 * np.pi)
    points = [(r, c)]
    for _ in range(length // 4):
        angle += rng.normal(0, 0.35)
        nr, nc = int(round(r + 4 * np.sin(angle))), int(round(c + 4 * np.cos(angle)))
        if not (0 <= nr < inside.shape[0] and 0 <= nc < inside.shape[1]) or not inside[nr, nc]:
            break
        r, c = nr, nc
        points.append((r, c))
    return points


def scribbles_from_mask(
    truth: np.ndarray, transform: Affine, rng: np.random.Generator, strokes_per_class: int, stroke_length: int = 48, margin: int = 4, ignore: int = 255
) -> list[tuple[object, int]]:
    """(geometry, class id) pairs in map coordinates: strokes plus one small square region per class."""
    features: list[tuple[object, int]] = []
    for cls in sorted(int(v) for v in np.unique(truth) if v != ignore):
        inside = erode(truth == cls, margin)
        candidates = np.argwhere(inside)
        if len(candidates) == 0:
            continue
        for _ in range(strokes_per_class):
            start = tuple(candidates[int(rng.integers(len(candidates)))])
            path = random_stroke(rng, inside, start, stroke_length)
            if len(path) >= 2:
                features.append((LineString([transform @ (c + 0.5, r + 0.5) for r, c in path]), cls))
        r, c = candidates[int(rng.integers(len(candidates)))]
        half = min(margin, 3)
        x0, y0 = transform @ (c - half + 0.5, r - half + 0.5)
        x1, y1 = transform @ (c + half + 0.5, r + half + 0.5)
        features.append((box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), cls))
    return features
