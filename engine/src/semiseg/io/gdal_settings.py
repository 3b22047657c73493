"""GDAL settings the engine runs with, applied by its entry point (not as a side effect of an import).

GDAL's block cache defaults to 5 % of RAM per process; windows are read once and outputs are
written strip by strip, so a small cache suffices and keeps memory flat (and every data-loading
worker, which inherits the environment, small). A user's own GDAL_CACHEMAX wins. GDAL reads it
at its first raster access, so `configure()` runs before any.

Seismic sections arrive without georeference; the engine handles that on purpose (io/rasters.py),
so rasterio's warning about it would only be noise on the user's console.
"""

from __future__ import annotations

import os
import warnings

from rasterio.errors import NotGeoreferencedWarning


def configure() -> None:
    os.environ.setdefault("GDAL_CACHEMAX", "256")
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
