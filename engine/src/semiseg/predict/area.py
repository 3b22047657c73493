"""Predicting part of a raster: which pixels `--bounds` means, and the grid the outputs get.

Bounds are in the coordinates QGIS shows the raster in (its CRS, or x = column, y = -row for a
raster without georeference), so the plugin can pass the map view as it is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from semiseg.errors import UserError
from semiseg.io.rasters import RasterInfo

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class PredictionArea:
    """What a prediction writes (`area`, on the grid `out_info`) and what it reads (`context`)."""

    area: Window
    context: Window
    out_info: RasterInfo

    @classmethod
    def of(cls, info: RasterInfo, bounds: Bounds | None, margin: int) -> "PredictionArea":
        """The whole raster without bounds; else the pixels covering them, read with `margin` around."""
        whole = Window(0, 0, info.width, info.height)
        if bounds is None:
            return cls(whole, whole, info)
        area = area_window(info, bounds)
        return cls(area, with_context(area, info, margin), area_info(info, area))

    @property
    def context_origin(self) -> tuple[int, int]:
        return int(self.context.row_off), int(self.context.col_off)

    def clip(self, top: int, height: int) -> tuple[slice, slice, Window] | None:
        """For rows [top, top + height) of the context: the rows and columns of them inside the
        area, and the output window they go to; None when none is inside."""
        skip_rows, skip_cols = int(self.area.row_off - self.context.row_off), int(self.area.col_off - self.context.col_off)
        first, last = max(top, skip_rows), min(top + height, skip_rows + self.out_info.height)
        if last <= first:
            return None
        window = Window(0, first - skip_rows, self.out_info.width, last - first)
        return slice(first - top, last - top), slice(skip_cols, skip_cols + self.out_info.width), window


def check_bounds(bounds: Bounds) -> None:
    """Reject bounds that cannot describe an area, before any model is loaded."""
    xmin, ymin, xmax, ymax = bounds
    if not all(math.isfinite(v) for v in bounds) or not (xmin < xmax and ymin < ymax):
        raise UserError(f"--bounds {xmin:g} {ymin:g} {xmax:g} {ymax:g}: expected finite XMIN YMIN XMAX YMAX with XMIN < XMAX and YMIN < YMAX")


def area_window(info: RasterInfo, bounds: Bounds) -> Window:
    """The raster's whole pixels that cover `bounds`."""
    check_bounds(bounds)
    t = info.label_transform
    if t.b != 0 or t.d != 0:
        raise UserError(f"{info.path}: --bounds needs a raster whose grid is not rotated; predict it whole")
    xmin, ymin, xmax, ymax = bounds
    # Pixel coordinates of the corners: this works for any axis direction (south-up, flipped).
    corners = [~t @ (x, y) for x in (xmin, xmax) for y in (ymin, ymax)]
    cols, rows = [c for c, _ in corners], [r for _, r in corners]
    # Rounded first so that bounds on pixel edges do not gain a pixel from float noise.
    col0, row0 = max(math.floor(round(min(cols), 6)), 0), max(math.floor(round(min(rows), 6)), 0)
    col1, row1 = min(math.ceil(round(max(cols), 6)), info.width), min(math.ceil(round(max(rows), 6)), info.height)
    if col1 <= col0 or row1 <= row0:
        raise UserError(f"{info.path}: --bounds {xmin:g} {ymin:g} {xmax:g} {ymax:g} do not overlap the raster")
    return Window(col0, row0, col1 - col0, row1 - row0)


def with_context(area: Window, info: RasterInfo, margin: int) -> Window:
    """`area` grown by `margin` pixels on every side, within the raster.

    The network sees that much of the raster around the area, so pixels at the area's border
    are predicted as they would be in the whole raster, not as if the raster ended there.
    """
    col0, row0 = max(int(area.col_off) - margin, 0), max(int(area.row_off) - margin, 0)
    col1 = min(int(area.col_off + area.width) + margin, info.width)
    row1 = min(int(area.row_off + area.height) + margin, info.height)
    return Window(col0, row0, col1 - col0, row1 - row0)


def area_info(info: RasterInfo, area: Window) -> RasterInfo:
    """The grid of `area`: the raster's pixels there, placed where QGIS shows them.

    A raster without georeference gets a pixel-coordinate transform (and still no CRS), so the
    area's output lies over the area and not at the raster's origin.
    """
    transform = window_transform(area, info.label_transform)
    return dataclasses.replace(info, width=int(area.width), height=int(area.height), transform=transform, georeferenced=True)
