"""Hold back spatial blocks of the labels for validation.

Neighbouring pixels are nearly identical, so a random-pixel split would measure memory,
not generalisation. Whole blocks go to validation; their labels are hidden from training
(the image pixels may still be seen, unlabelled, like any other pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semiseg.data.labels import IGNORE_INDEX

MIN_LABELLED_BLOCKS = 4
# Enough pixels for stable scores; more would only slow each validation down.
MAX_VAL_BLOCKS = 64


@dataclass(frozen=True)
class ValBlock:
    raster: int  # index into the labelled rasters
    row: int
    col: int
    size: int


def split_blocks(
    label_maps: list[np.ndarray], block: int, fraction: float, seed: int
) -> tuple[list[np.ndarray], list[ValBlock]]:
    """Return training label maps (validation blocks set to IGNORE_INDEX) and the validation blocks.

    No validation is held back when `fraction` is 0 or there are fewer than
    MIN_LABELLED_BLOCKS labelled blocks: every label then goes to training.
    """
    candidates: list[tuple[ValBlock, int]] = []
    for r, ids in enumerate(label_maps):
        h, w = ids.shape
        for row in range(0, h, block):
            for col in range(0, w, block):
                n = int((ids[row : row + block, col : col + block] != IGNORE_INDEX).sum())
                if n:
                    candidates.append((ValBlock(r, row, col, block), n))
    total = sum(n for _, n in candidates)
    if fraction <= 0 or len(candidates) < MIN_LABELLED_BLOCKS:
        return [ids.copy() for ids in label_maps], []

    order = np.random.default_rng([seed, 7]).permutation(len(candidates))
    chosen: list[ValBlock] = []
    held = 0
    for i in order:
        blk, n = candidates[i]
        if held >= fraction * total or len(chosen) >= min(MAX_VAL_BLOCKS, len(candidates) // 2):
            break
        if held + n > 2 * fraction * total:  # one huge block must not swallow the training set
            continue
        chosen.append(blk)
        held += n
    train = [ids.copy() for ids in label_maps]
    for blk in chosen:
        train[blk.raster][blk.row : blk.row + blk.size, blk.col : blk.col + blk.size] = IGNORE_INDEX
    return train, chosen
