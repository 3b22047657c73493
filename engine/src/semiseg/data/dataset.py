"""Training windows as a map-style dataset indexed by global sample number.

Sample i is a pure function of (seed, i): the same whichever worker or process reads it,
which makes runs reproducible and resumed runs identical to uninterrupted ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rasterio.windows import Window
from torch.utils.data import Dataset, Sampler, default_collate

from semiseg.data.augment import random_dihedral
from semiseg.data.labels import IGNORE_INDEX
from semiseg.data.normalization import BandStats
from semiseg.data.sampling import LabeledPixelIndex, random_window, window_around
from semiseg.io.rasters import PROBABILITY_SCALE, RasterInfo, open_raster, read_window

MIN_VALID_FRACTION = 0.5
UNLABELED_TRIES = 8


@dataclass
class WindowSource:
    """Everything a worker needs to cut windows; cheap to pickle (no open files)."""

    labeled: list[RasterInfo]
    label_maps: list[np.ndarray]  # training labels (validation blocks hidden)
    pool: list[RasterInfo]  # rasters for unlabelled windows (train.unlabeled_windows)
    bands: list[int]
    stats: BandStats
    tile: int
    # Dense pseudo-labels (train/methods/pseudo.py): raster path -> its PseudoLabelMap, same grid.
    pseudo: dict[str, "PseudoLabelMap"] | None = None
    # forest_context (models/context.py): raster path -> the forest's probabilities raster (one
    # byte band per class, same grid), read as extra channels after the bands.
    context: dict[str, Path] | None = None


@dataclass(frozen=True)
class PseudoLabelMap:
    """A class raster and its confidence raster (the forest's prediction of one raster)."""

    classes: Path
    confidence: Path
    threshold: float

    def read(self, cache: "_RasterCache", window: Window) -> np.ndarray:
        """(H, W) uint8: the class where the confidence reaches the threshold, IGNORE_INDEX elsewhere."""
        classes, valid = read_window(cache.get_path(self.classes), window, [1])
        confidence, _ = read_window(cache.get_path(self.confidence), window, [1])
        keep = valid & (confidence[0] >= self.threshold)
        return np.where(keep, classes[0], IGNORE_INDEX).astype(np.uint8)


def read_context(ds, window: Window, valid: np.ndarray) -> np.ndarray:
    """(classes, H, W) float32 probabilities of a forest's probabilities raster, 0 where `valid` is not."""
    probs, _ = read_window(ds, window, list(range(1, ds.count + 1)))
    return (probs / PROBABILITY_SCALE * valid).astype(np.float32)


class _RasterCache:
    """Open datasets per process: GDAL handles must not cross a fork."""

    def __init__(self):
        self._pid = None
        self._open: dict[str, object] = {}

    def get(self, info: RasterInfo):
        return self.get_path(info.path)

    def get_path(self, path: Path):
        if self._pid != os.getpid():
            self._pid, self._open = os.getpid(), {}
        key = str(path)
        if key not in self._open:
            self._open[key] = open_raster(path)
        return self._open[key]


class TrainingWindows(Dataset):
    """Sample i: one labelled window and `unlabeled_count` unlabelled ones (stacked on a leading axis)."""

    def __init__(self, source: WindowSource, index: LabeledPixelIndex, seed: int, length: int, unlabeled_count: int, stream: int = 0):
        self.source = source
        self.stream = stream  # separates the random streams of several domains
        self.index = index
        self.seed = seed
        self.length = length
        self.unlabeled_count = unlabeled_count
        self._cache = _RasterCache()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, int(i)] + ([self.stream] if self.stream else []))
        sample = {"labeled": self._labeled(rng)}
        if self.unlabeled_count:
            windows = [self._unlabeled(rng) for _ in range(self.unlabeled_count)]
            sample["unlabeled"] = {key: torch.stack([w[key] for w in windows]) for key in windows[0]}
        return sample

    def _labeled(self, rng: np.random.Generator) -> dict:
        s = self.source
        r, row, col = self.index.draw_pixel(rng)
        info = s.labeled[r]
        top, left = window_around(rng, row, col, info.height, info.width, s.tile)
        window = Window(left, top, s.tile, s.tile)
        image, valid = read_window(self._cache.get(info), window, s.bands)
        label = _crop(s.label_maps[r], top, left, s.tile)
        label[~valid] = IGNORE_INDEX
        extra = [self._pseudo(info, window, valid)] if s.pseudo else []
        image, label, valid, *extra = random_dihedral(rng, self._input(info, window, image, valid), label, valid, *extra)
        out = {"image": torch.from_numpy(image), "label": torch.from_numpy(label.astype(np.int64)), "valid": torch.from_numpy(valid)}
        if extra:
            out["pseudo"] = torch.from_numpy(extra[0].astype(np.int64))
        return out

    def _input(self, info: RasterInfo, window: Window, image: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The network's input: normalized bands (0 on nodata), then the forest's context channels."""
        bands = self.source.stats.apply(image) * valid
        if not self.source.context:
            return bands
        return np.concatenate([bands, read_context(self._cache.get_path(self.source.context[str(info.path)]), window, valid)])

    def _pseudo(self, info: RasterInfo, window: Window, valid: np.ndarray) -> np.ndarray:
        pseudo = self.source.pseudo[str(info.path)].read(self._cache, window)
        pseudo[~valid] = IGNORE_INDEX
        return pseudo

    def _unlabeled(self, rng: np.random.Generator) -> dict:
        s = self.source
        sizes = [(info.height, info.width) for info in s.pool]
        for _ in range(UNLABELED_TRIES):
            pos = random_window(rng, sizes, s.tile)
            window = Window(pos.col, pos.row, s.tile, s.tile)
            image, valid = read_window(self._cache.get(s.pool[pos.raster]), window, s.bands)
            if valid.mean() >= MIN_VALID_FRACTION:
                break
        info = s.pool[pos.raster]
        extra = [self._pseudo(info, window, valid)] if s.pseudo else []
        image, valid, *extra = random_dihedral(rng, self._input(info, window, image, valid), valid, *extra)
        out = {"image": torch.from_numpy(image), "valid": torch.from_numpy(valid)}
        if extra:
            out["pseudo"] = torch.from_numpy(extra[0].astype(np.int64))
        return out


def collate_windows(samples: list[dict]) -> dict:
    """The default collation, then each sample's unlabelled windows become batch items of their own."""
    batch = default_collate(samples)
    _flatten_unlabeled(batch)
    return batch


def _flatten_unlabeled(node: dict) -> None:
    for key, value in node.items():
        if key == "unlabeled":
            node[key] = {name: tensor.flatten(0, 1) for name, tensor in value.items()}
        elif isinstance(value, dict):
            _flatten_unlabeled(value)


class DomainWindows(Dataset):
    """Sample i of every domain at once: {"domains": {name: sample}} (each domain its own shapes)."""

    def __init__(self, datasets: dict[str, TrainingWindows]):
        self.datasets = datasets

    def __len__(self) -> int:
        return min(len(d) for d in self.datasets.values())

    def __getitem__(self, i: int) -> dict:
        return {"domains": {name: ds[i] for name, ds in self.datasets.items()}}


def _crop(ids: np.ndarray, top: int, left: int, tile: int) -> np.ndarray:
    """A tile x tile crop that may reach outside `ids` (outside = IGNORE_INDEX)."""
    out = np.full((tile, tile), IGNORE_INDEX, dtype=np.uint8)
    h, w = ids.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + tile, h), min(left + tile, w)
    if r1 > r0 and c1 > c0:
        out[r0 - top : r1 - top, c0 - left : c1 - left] = ids[r0:r1, c0:c1]
    return out


class StepSampler(Sampler[int]):
    """Sample numbers for the steps still to run, for one process of `world_size`.

    Step s of rank r uses samples (s * world_size + r) * batch_size + j, j < batch_size.
    `current_step` is asked each time iteration (re)starts, so whenever the training loop
    re-creates its iterator (a resume, a new epoch) the data continues where training is.
    """

    def __init__(self, total_steps: int, batch_size: int, current_step: Callable[[], int], rank: int = 0, world_size: int = 1):
        self.total_steps, self.batch_size = total_steps, batch_size
        self.current_step, self.rank, self.world_size = current_step, rank, world_size

    def __iter__(self):
        for step in range(self.current_step(), self.total_steps):
            first = (step * self.world_size + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)

    def __len__(self) -> int:
        return self.total_steps * self.batch_size
