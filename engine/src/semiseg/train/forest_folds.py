"""The pixel forest's probabilities at its own labelled pixels, from forests that never saw them.

A network that reads the forest's probabilities as input (method parameter `forest_context`,
models/context.py) learns how far to trust them from the labelled pixels. There, the forest
that learnt from those very pixels is nearly always right, far more than on a new image, and a
network trained on that would copy the forest. So the labelled pixels get out-of-fold
probabilities instead, as in stacked generalisation: FOLD_BLOCK-square blocks of the label
maps are dealt into FOLDS folds, a forest is fitted on the labels of the other folds only, and
it predicts the labelled pixels of its fold. Whole blocks, not pixels, form the folds, because a
pixel's neighbours are near copies of it (the reason validation holds out blocks, data/split.py).
Labels that all lie in one fold leave no forest to fit without them: they keep the full
forest's probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
from rasterio.windows import Window

from semiseg.data.labels import IGNORE_INDEX
from semiseg.io.rasters import PROBABILITY_SCALE, open_raster
from semiseg.train.forest import ForestData, block_features, blocks_with, train_pixel_forest

FOLDS = 2
FOLD_BLOCK = 64  # px: twice the reach of the widest filter's half, small enough for a 100-px raster to hold both folds


def block_folds(label_maps: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Per label map, the fold (0..FOLDS-1) of each FOLD_BLOCK-square block, dealt evenly in a random order."""
    shapes = [(-(-ids.shape[0] // FOLD_BLOCK), -(-ids.shape[1] // FOLD_BLOCK)) for ids in label_maps]
    total = sum(r * c for r, c in shapes)
    folds = np.random.default_rng([seed, 31]).permutation(total) % FOLDS
    out, start = [], 0
    for r, c in shapes:
        out.append(folds[start : start + r * c].reshape(r, c))
        start += r * c
    return out


def without_fold(ids: np.ndarray, folds: np.ndarray, fold: int) -> np.ndarray:
    """The label map with the labels of `fold`'s blocks hidden."""
    inside = np.kron(folds == fold, np.ones((FOLD_BLOCK, FOLD_BLOCK), bool))[: ids.shape[0], : ids.shape[1]]
    return np.where(inside, IGNORE_INDEX, ids).astype(ids.dtype)


def write_out_of_fold(data: ForestData, probability_maps: list[Path], check: Callable[[], None]) -> None:
    """Overwrite each labelled raster's probability map (predict/raster.py's `_probabilities.tif`)
    at its labelled pixels with the probabilities of the forest fitted without their fold."""
    folds = block_folds(data.label_maps, data.seed)
    scales = tuple(data.params.scales)
    for fold in range(FOLDS):
        held_in = [without_fold(ids, f, fold) for ids, f in zip(data.label_maps, folds)]
        if not any((m != IGNORE_INDEX).any() for m in held_in):
            continue  # every label lies in this fold: no forest can be fitted without it
        forest, _ = train_pixel_forest(data.with_labels(held_in, data.seed + 1 + fold), lambda n: check())
        for info, ids, f, path in zip(data.rasters, data.label_maps, folds, probability_maps):
            held_out = (ids != IGNORE_INDEX) & (without_fold(ids, f, fold) == IGNORE_INDEX)
            with open_raster(info.path) as ds, rasterio.open(path, "r+") as probs:
                for row, col, pick in blocks_with(held_out):
                    check()
                    features, pick = block_features(ds, row, col, pick, data.bands, data.stats, scales)
                    if not len(features):
                        continue
                    window = Window(col, row, pick.shape[1], pick.shape[0])
                    block = probs.read(window=window)
                    block[:, pick] = np.rint(forest.class_probabilities(features).T * PROBABILITY_SCALE).astype(np.uint8)
                    probs.write(block, window=window)
