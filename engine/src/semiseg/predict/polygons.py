"""Class polygons from a class raster: the vector map GIS users edit, measure and hand on.

Regions smaller than `min_pixels` are first merged into their largest neighbour (GDAL's sieve),
so single noisy pixels do not become thousands of slivers; the class raster itself is left as
predicted. Memory: one byte per pixel of the raster plus the polygons.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.features import shapes, sieve
from shapely.geometry import shape

from semiseg.io.atomic import atomic_path
from semiseg.io.rasters import open_raster, raster_info


def polygonize(classes_tif: Path, out_gpkg: Path, class_names: list[str], nodata: int, min_pixels: int) -> int:
    """Write one polygon per 4-connected region of a class (fields class_id, class); return the count.

    Coordinates are those QGIS shows the raster in (its CRS, or x = column, y = -row without one),
    so the polygons lie exactly on the class raster's pixel edges.
    """
    info = raster_info(classes_tif)
    with open_raster(classes_tif) as ds:
        ids = ds.read(1)
    valid = ids != nodata
    if min_pixels > 1:
        ids = sieve(ids, min_pixels, mask=valid.astype(np.uint8), connectivity=4)
    regions = [(shape(geometry), int(value)) for geometry, value in shapes(ids, mask=valid, connectivity=4, transform=info.label_transform)]
    frame = gpd.GeoDataFrame(  # typed columns: an empty result keeps the same schema
        {
            "class_id": pd.Series([v for _, v in regions], dtype="int32"),
            "class": pd.Series([class_names[v] for _, v in regions], dtype=object),
        },
        geometry=[g for g, _ in regions],
        crs=info.crs,
    )
    with atomic_path(out_gpkg) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # a seismic section has none, on purpose
        # GeoPackage 1.2: QGIS 3.22's GDAL warns on every open of the 1.4 files newer GDAL writes.
        frame.to_file(tmp, driver="GPKG", layer=out_gpkg.stem, geometry_type="Polygon", dataset_options={"VERSION": "1.2"})
    return len(frame)
