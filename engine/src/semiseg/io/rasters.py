"""Raster reading and georeference: the one owner of grids, windows, bands and nodata.

Conventions (docs/job-spec.md): band indexes are 1-based; a pixel is nodata when every
selected band is nodata (nodata value, GDAL mask or alpha band, NaN); a raster without
CRS and geotransform (a seismic section) is placed the way QGIS shows it: x = column,
y = -row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from semiseg.errors import UserError, first_line


# How QGIS displays a raster that has neither CRS nor geotransform.
QGIS_PIXEL_TRANSFORM = Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)


@dataclass(frozen=True)
class RasterInfo:
    """What the engine needs to know about a raster, read once."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: object  # rasterio CRS or None
    transform: Affine
    nodata: float | None
    georeferenced: bool
    driver: str  # GDAL's short name: "GTiff", "PNG", ...

    @property
    def label_transform(self) -> Affine:
        """Transform in which vector labels drawn over this raster are expressed."""
        return self.transform if self.georeferenced else QGIS_PIXEL_TRANSFORM


# A probabilities raster (<stem>_probabilities.tif) stores p * PROBABILITY_SCALE as bytes, one band
# per class, 0 on nodata: a quarter of float32's size, and 1/510 is finer than any decision taken on it.
PROBABILITY_SCALE = 255

# What the engine holds in memory whole (labels on a labelled raster's grid, a class raster to
# polygonize) is refused up front above this many pixels (4 GiB at a byte per pixel), or above
# the memory free when it starts: one line naming the file, not a MemoryError (or the kernel's
# OOM killer) after minutes of reading.
MAX_WHOLE_PIXELS = 2**32


def _free_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable, else free physical pages); None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def refuse_if_too_large_to_hold(path: Path, width: int, height: int, what: str, bytes_per_pixel: int, fix: str) -> None:
    """A UserError naming `path` and its size if `what` (held whole, `bytes_per_pixel` of memory
    per pixel) would not fit."""
    pixels = width * height
    need = pixels * bytes_per_pixel
    free = _free_memory()
    if pixels > MAX_WHOLE_PIXELS:
        why = f"more than the {MAX_WHOLE_PIXELS:,} px the engine holds whole"
    elif free is not None and need > free:
        why = f"more than the {free / 2**30:.1f} GiB of memory free"
    else:
        return
    raise UserError(f"{path}: {width} x {height} px is too large: {what} would take {need / 2**30:.1f} GiB held in memory whole, {why}; {fix}")


def open_raster(path: str | Path) -> rasterio.io.DatasetReader:
    """Open a raster, turning GDAL's complaints into one user-facing line."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        if path.is_dir():  # GDAL opens some folders (an ESRI grid); this one is not a raster
            raise UserError(f"{path}: a folder, not a raster GDAL can read") from None
        raise UserError(f"{path}: not a raster GDAL can read ({first_line(exc)})") from None


def raster_info(path: str | Path) -> RasterInfo:
    with open_raster(path) as ds:
        if ds.gcps[0] and ds.transform.is_identity:
            # Outputs on "exactly its grid" and labels drawn over it need a geotransform.
            raise UserError(f"{path}: placed by ground control points only; warp it to a CRS first (gdalwarp, or QGIS's Georeferencer)")
        georeferenced = ds.crs is not None or not ds.transform.is_identity
        return RasterInfo(
            path=Path(path),
            width=ds.width,
            height=ds.height,
            count=ds.count,
            dtype=ds.dtypes[0],
            crs=ds.crs,
            transform=ds.transform,
            nodata=ds.nodata,
            georeferenced=georeferenced,
            driver=ds.driver,
        )


def read_window(
    ds: rasterio.io.DatasetReader, window: Window, bands: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Read `bands` in `window` (may reach outside the raster) as float32 plus a validity mask.

    Pixels outside the raster are zero and invalid.
    """
    full = Window(0, 0, ds.width, ds.height)
    inner = window.intersection(full) if _intersects(window, full) else None
    h, w = int(window.height), int(window.width)
    data = np.zeros((len(bands), h, w), dtype=np.float32)
    valid = np.zeros((h, w), dtype=bool)
    if inner is None:
        return data, valid
    r0 = int(inner.row_off - window.row_off)
    c0 = int(inner.col_off - window.col_off)
    ih, iw = int(inner.height), int(inner.width)
    try:
        values = ds.read(list(bands), window=inner).astype(np.float32, copy=False)
        masks = ds.read_masks(list(bands), window=inner)
    except RasterioIOError as exc:
        raise UserError(_damaged(ds.name, inner, exc)) from None
    inner_valid = (masks > 0).any(axis=0)
    if np.issubdtype(np.dtype(ds.dtypes[0]), np.floating):
        finite = np.isfinite(values)
        inner_valid &= finite.any(axis=0)
        values = np.where(finite, values, 0.0)
    data[:, r0 : r0 + ih, c0 : c0 + iw] = values
    valid[r0 : r0 + ih, c0 : c0 + iw] = inner_valid
    return data, valid


def _damaged(path: str, window: Window, exc: Exception) -> str:
    cause = exc.__cause__ or exc  # rasterio's own message only points at GDAL's, its cause
    where = f"rows {int(window.row_off)}-{int(window.row_off + window.height) - 1}"
    return f"{path}: cannot read {where}: the file is damaged or truncated ({first_line(cause)})"


def check_readable(info: RasterInfo, bands: Sequence[int]) -> None:
    """Decode every block of `bands` once (one row of each block's first line is read, so the
    block is decompressed and dropped): a damaged or truncated file is found before training,
    not in the middle of it. Costs one pass over the file, without holding it in memory."""
    with open_raster(info.path) as ds:
        rows, cols = ds.block_shapes[0]
        for row in range(0, ds.height, rows):
            for col in range(0, ds.width, cols):
                window = Window(col, row, min(cols, ds.width - col), 1)
                try:
                    ds.read(list(bands), window=window)
                    ds.read_masks(list(bands), window=window)
                except RasterioIOError as exc:
                    raise UserError(_damaged(str(info.path), Window(col, row, window.width, rows), exc)) from None


def _intersects(a: Window, b: Window) -> bool:
    return (
        a.col_off < b.col_off + b.width
        and b.col_off < a.col_off + a.width
        and a.row_off < b.row_off + b.height
        and b.row_off < a.row_off + a.height
    )


def output_profile(info: RasterInfo, dtype: str, nodata: float, block: int = 256) -> dict:
    """GeoTIFF profile on exactly `info`'s grid: same CRS, transform, width, height.

    A raster without georeference gets none either, so QGIS places both the same way.
    """
    profile = dict(
        driver="GTiff",
        width=info.width,
        height=info.height,
        count=1,
        dtype=dtype,
        nodata=nodata,
        compress="deflate",
        BIGTIFF="IF_SAFER",
    )
    if info.width >= block and info.height >= block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    if info.georeferenced:
        profile.update(crs=info.crs, transform=info.transform)
    return profile
