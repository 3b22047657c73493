"""Validation on the held-out label blocks: each block is predicted with context around it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from rasterio.windows import Window

from semiseg.data.dataset import read_context
from semiseg.data.labels import IGNORE_INDEX
from semiseg.data.normalization import BandStats
from semiseg.data.split import ValBlock
from semiseg.io.rasters import RasterInfo, open_raster, read_window
from semiseg.metrics import confusion
from semiseg.models.blend import ForestBlend, blend
from semiseg.models.forest import class_logits


class BlockValidator:
    """Reads the validation windows once; scores a network on them whenever asked."""

    def __init__(self, blocks: list[ValBlock], rasters: list[RasterInfo], label_maps: list[np.ndarray], bands: list[int], stats: BandStats, tile: int, num_classes: int):
        self.num_classes = num_classes
        self.images: list[np.ndarray] = []
        self.truths: list[np.ndarray] = []
        self.valids: list[np.ndarray] = []
        self.windows: list[tuple[RasterInfo, Window]] = []  # where each image was read
        for blk in blocks:
            info = rasters[blk.raster]
            # Block centred in a tile-sized window, so the network sees context on every side.
            top = blk.row + blk.size // 2 - tile // 2
            left = blk.col + blk.size // 2 - tile // 2
            with open_raster(info.path) as ds:
                image, valid = read_window(ds, Window(left, top, tile, tile), bands)
            truth = np.full((tile, tile), IGNORE_INDEX, dtype=np.uint8)
            r0, c0 = blk.row - top, blk.col - left
            part = label_maps[blk.raster][blk.row : blk.row + blk.size, blk.col : blk.col + blk.size]
            truth[r0 : r0 + part.shape[0], c0 : c0 + part.shape[1]] = part
            truth[~valid] = IGNORE_INDEX
            self.images.append((stats.apply(image) * valid).astype(np.float32))
            self.truths.append(truth)
            self.valids.append(valid)
            self.windows.append((info, Window(left, top, tile, tile)))

    def add_context(self, context: dict[str, Path]) -> None:
        """Append the forest's context channels (models/context.py) to every validation image,
        read from the maps the training windows read them from: validation sees what training does."""
        for i, (info, window) in enumerate(self.windows):
            with open_raster(context[str(info.path)]) as ds:
                self.images[i] = np.concatenate([self.images[i], read_context(ds, window, self.valids[i])])

    def __len__(self) -> int:
        return len(self.images)

    def _batches(self, device: torch.device, batch_size: int):
        for i in range(0, len(self.images), batch_size):
            batch = torch.from_numpy(np.stack(self.images[i : i + batch_size])).to(device)
            valid = torch.from_numpy(np.stack(self.valids[i : i + batch_size])).to(device)
            yield batch, valid, self.truths[i : i + batch_size]

    def _add(self, matrix: np.ndarray, predicted: torch.Tensor, truths: list[np.ndarray]) -> None:
        for p, t in zip(predicted.cpu().numpy().astype(np.uint8), truths):
            matrix += confusion(t, p, self.num_classes)

    @torch.no_grad()
    def confusion(self, network: nn.Module, device: torch.device, batch_size: int = 8) -> np.ndarray:
        was_training = network.training
        network.eval()
        matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        for batch, valid, truths in self._batches(device, batch_size):
            self._add(matrix, class_logits(network, batch, valid).argmax(1), truths)
        network.train(was_training)
        return matrix

    @torch.no_grad()
    def blend_confusions(self, model: ForestBlend, weights: list[float], device: torch.device, batch_size: int = 8) -> dict[float, np.ndarray]:
        """The confusion of each blend weight, from one pass of the network and the forest."""
        was_training = model.training
        model.eval()
        matrices = {w: np.zeros((self.num_classes, self.num_classes), dtype=np.int64) for w in weights}
        for batch, valid, truths in self._batches(device, batch_size):
            p_network, p_forest = model.probabilities(batch, valid)
            for w in weights:
                self._add(matrices[w], blend(p_network, p_forest, w).argmax(1), truths)
        model.train(was_training)
        return matrices
