"""Per-band normalization statistics from random windows (never the whole raster)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semiseg.io.rasters import RasterInfo, open_raster, read_window
from rasterio.windows import Window


@dataclass(frozen=True)
class BandStats:
    mean: list[float]
    std: list[float]

    def apply(self, data: np.ndarray) -> np.ndarray:
        """(bands, H, W) raw values -> normalized float32."""
        mean = np.asarray(self.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None, None]
        return (data - mean) / std


def compute_band_stats(
    rasters: list[RasterInfo], bands: list[int], seed: int, windows_per_raster: int = 16, size: int = 256
) -> BandStats:
    rng = np.random.default_rng([seed, 11])
    total = np.zeros(len(bands))
    total_sq = np.zeros(len(bands))
    count = 0
    for info in rasters:
        with open_raster(info.path) as ds:
            for _ in range(windows_per_raster):
                h, w = min(size, info.height), min(size, info.width)
                row = int(rng.integers(0, info.height - h + 1))
                col = int(rng.integers(0, info.width - w + 1))
                data, valid = read_window(ds, Window(col, row, w, h), bands)
                pixels = data[:, valid].astype(np.float64)
                total += pixels.sum(axis=1)
                total_sq += (pixels**2).sum(axis=1)
                count += pixels.shape[1]
    if count == 0:
        return BandStats([0.0] * len(bands), [1.0] * len(bands))
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    std = np.where(std > 1e-6, std, 1.0)
    return BandStats(mean.tolist(), std.tolist())
