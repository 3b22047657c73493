"""Fit the pixel classifier (method `pixel_forest`) on a domain's labelled pixels.

Only labelled pixels teach it: a random subset of them (at most `max_pixels`, per class when
train.class_balanced) is chosen from the training label maps (validation blocks hidden), and
their filter features are computed block by block with the context the largest filter needs,
so memory follows the block, not the raster. The forest is then scored on the held-out blocks
like a network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from rasterio.windows import Window

from semiseg.data.labels import IGNORE_INDEX
from semiseg.data.normalization import BandStats
from semiseg.errors import UserError
from semiseg.io.rasters import RasterInfo, open_raster, read_window
from semiseg.models.filter_bank import context_radius, filter_features
from semiseg.models.forest import PixelForest, fit_forest
from semiseg.train.methods.pixel_forest import PixelForestParams

BLOCK = 256  # labelled pixels' features are computed this many pixels square at a time
FOREST_TILE = 512  # prediction windows of a forest: its filters reach 30 px, so larger windows waste less


def choose_pixels(label_maps: list[np.ndarray], num_classes: int, max_pixels: int, class_balanced: bool, seed: int) -> list[np.ndarray]:
    """Per label map, a mask of the labelled pixels the forest learns from (at most about `max_pixels`)."""
    counts = np.zeros(num_classes, np.int64)
    for ids in label_maps:
        labelled = ids[ids != IGNORE_INDEX]
        counts += np.bincount(labelled, minlength=num_classes)[:num_classes]
    if class_balanced:
        cap = max_pixels / max(1, int((counts > 0).sum()))
        keep = np.minimum(1.0, cap / np.maximum(counts, 1))
    else:
        keep = np.full(num_classes, min(1.0, max_pixels / max(1, int(counts.sum()))))
    lut = np.zeros(256, np.float64)  # keep probability by label value; IGNORE_INDEX and beyond: 0
    lut[:num_classes] = keep
    rng = np.random.default_rng([seed, 23])
    return [rng.random(ids.shape) < lut[ids] for ids in label_maps]


def labelled_features(
    rasters: list[RasterInfo], label_maps: list[np.ndarray], chosen: list[np.ndarray], bands: list[int], stats: BandStats, scales: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, features) float32 and (pixels,) labels of the chosen pixels, valid ones only."""
    xs, ys = [], []
    for info, ids, mask in zip(rasters, label_maps, chosen):
        with open_raster(info.path) as ds:
            for row, col, pick in blocks_with(mask):
                features, pick = block_features(ds, row, col, pick, bands, stats, scales)
                xs.append(features)
                ys.append(ids[row : row + BLOCK, col : col + BLOCK][pick])
    if not xs:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return np.ascontiguousarray(np.concatenate(xs), dtype=np.float32), np.concatenate(ys).astype(np.int64)


def blocks_with(mask: np.ndarray):
    """(row, col, the block of `mask`) for every BLOCK-square block where `mask` has a pixel."""
    for row in range(0, mask.shape[0], BLOCK):
        for col in range(0, mask.shape[1], BLOCK):
            pick = mask[row : row + BLOCK, col : col + BLOCK]
            if pick.any():
                yield row, col, pick


def block_features(ds, row: int, col: int, pick: np.ndarray, bands: list[int], stats: BandStats, scales: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, features) of the picked pixels of the block at (row, col) that hold valid data,
    and the pick narrowed to them; read with the context the largest filter needs."""
    radius = context_radius(scales)
    h, w = pick.shape
    image, valid = read_window(ds, Window(col - radius, row - radius, w + 2 * radius, h + 2 * radius), bands)
    x = torch.from_numpy((stats.apply(image) * valid).astype(np.float32))[None]
    inner = (slice(radius, radius + h), slice(radius, radius + w))
    features = filter_features(x, torch.from_numpy(valid)[None], scales)[0][:, inner[0], inner[1]]
    pick = pick & valid[inner]
    return features.numpy()[:, pick].T, pick


@dataclass(frozen=True)
class ForestData:
    """What a pixel forest learns from: a domain's labelled rasters and training label maps
    (validation blocks hidden), the bands it reads and their normalization, and how."""

    rasters: list[RasterInfo]
    label_maps: list[np.ndarray]
    bands: list[int]
    stats: BandStats
    num_classes: int
    params: PixelForestParams
    class_balanced: bool
    seed: int

    def with_labels(self, label_maps: list[np.ndarray], seed: int) -> "ForestData":
        """The same rasters with other labels (a fold's) and seed."""
        return dataclasses.replace(self, label_maps=label_maps, seed=seed)


def train_pixel_forest(data: ForestData, on_round: Callable[[int], None] | None = None) -> tuple[PixelForest, int]:
    """The fitted forest and the number of labelled pixels it learnt from.

    `on_round(0)` comes when the features are computed, then `on_round(trees)` as trees grow.
    """
    params = data.params
    scales = tuple(params.scales)
    chosen = choose_pixels(data.label_maps, data.num_classes, params.max_pixels, data.class_balanced, data.seed)
    features, labels = labelled_features(data.rasters, data.label_maps, chosen, data.bands, data.stats, scales)
    if not len(labels):
        raise UserError("labels: no labelled pixel lies on valid (not nodata) data outside the validation blocks; label more areas")
    if on_round:
        on_round(0)
    forest = fit_forest(features, labels, data.num_classes, params.trees, data.seed, scales, params.min_samples_leaf, on_round)
    return forest, len(labels)
