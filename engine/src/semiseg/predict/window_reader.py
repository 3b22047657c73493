"""The windows a prediction blends, read and normalised in batches, in DataLoader workers or here.

A batch is consecutive windows of one row of a grid (predict/tiling.py), in the order they are
blended. Its pixels are read in one read of the strip they cover (windows overlap: each pixel is
read once per batch, not once per window) and cut into windows, then normalised with the model's
band statistics. With workers, each worker opens the raster itself (a rasterio handle does not
cross processes) and batches arrive in order, pinned for a GPU when asked, while the model
computes the previous ones; the batches are the same whoever reads them, so the map is too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from rasterio.windows import Window
from torch.utils.data import DataLoader, Dataset

from semiseg.data.workers import die_with_parent
from semiseg.io.rasters import open_raster, read_window
from semiseg.models.package import ModelCard


@dataclass(frozen=True)
class WindowBatch:
    """Windows of grid row `row` at `cols`; `live` are those with a valid pixel (the others stay
    nodata and are not computed), `images` (live, bands, tile, tile) normalised and zero where
    invalid, `valid` (live, tile, tile)."""

    row: int
    cols: tuple[int, ...]
    live: tuple[int, ...]  # indices into cols
    images: np.ndarray | torch.Tensor
    valid: np.ndarray | torch.Tensor

    def pin_memory(self) -> "WindowBatch":
        """Called by a DataLoader with `pin_memory`: page-locked copies go to a GPU without waiting."""
        return WindowBatch(self.row, self.cols, self.live, self.images.pin_memory(), self.valid.pin_memory())


class WindowBatches(Dataset):
    """The batches of a grid's windows, in blending order; item i opens the raster where it runs."""

    def __init__(self, raster: Path, card: ModelCard, grid, origin: tuple[int, int], batch_size: int, opened=None):
        """`grid`: a TileGrid or SubGrid whose (0, 0) is pixel `origin` (row, col) of `raster`;
        `opened`: the raster already open in this process (read here, never sent to a worker)."""
        self.raster, self.card, self.tile, self.origin = Path(raster), card, grid.tile, origin
        cols = tuple(grid.col_offsets)
        self.items = [(row, cols[i : i + batch_size]) for row in grid.row_offsets for i in range(0, len(cols), batch_size)]
        self._ds = opened

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_ds": None}  # a worker opens its own

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> WindowBatch:
        if self._ds is None:
            self._ds = open_raster(self.raster)
        row, cols = self.items[i]
        row0, col0 = self.origin
        t = self.tile
        strip, strip_valid = read_window(self._ds, Window(col0 + cols[0], row0 + row, cols[-1] - cols[0] + t, t), self.card.bands)
        images, masks, live = [], [], []
        for k, col in enumerate(cols):
            valid = strip_valid[:, col - cols[0] : col - cols[0] + t]
            if valid.any():  # windows with no valid pixel (scene borders) need no forward pass
                live.append(k)
                images.append(self.card.stats.apply(strip[:, :, col - cols[0] : col - cols[0] + t]) * valid)
                masks.append(valid)
        shape = (0, len(self.card.bands), t, t)
        stacked = np.stack(images).astype(np.float32) if images else np.zeros(shape, np.float32)
        valid = np.stack(masks) if masks else np.zeros((0, t, t), bool)
        return WindowBatch(row, cols, tuple(live), stacked, valid)


def read_batches(ds, card: ModelCard, grid, origin: tuple[int, int], batch_size: int, workers: int = 0, pin: bool = False) -> Iterator[WindowBatch]:
    """The batches of `grid` over the open raster `ds`, in order: read here (`workers` 0) or by
    that many DataLoader workers, each with its own handle of the raster."""
    batches = WindowBatches(Path(ds.name), card, grid, origin, batch_size, opened=None if workers else ds)
    if not workers:
        yield from (batches[i] for i in range(len(batches)))
        return
    loader = DataLoader(batches, batch_size=None, num_workers=workers, pin_memory=pin, prefetch_factor=4,
                        worker_init_fn=die_with_parent, collate_fn=_as_tensors)
    yield from loader


def _as_tensors(batch: WindowBatch) -> WindowBatch:
    """Arrays as tensors, so the loader can pin them for the copy to a GPU."""
    return WindowBatch(batch.row, batch.cols, batch.live, torch.from_numpy(batch.images), torch.from_numpy(batch.valid))
