"""Class polygons from a class raster: the vector map GIS users edit, measure and hand on.

Regions smaller than `min_pixels` are first merged into their largest neighbour (GDAL's sieve),
so single noisy pixels do not become thousands of slivers; the class raster itself is left as
predicted. With `simplify` (a distance in the CRS's units), the staircase pixel edges are
simplified as one coverage (shapely's coverage_simplify, GEOS's topology-preserving
simplification of polygons that share edges), so neighbours keep sharing their boundary: no gap
and no overlap appears between them. Written as a GeoPackage, GeoJSON or Shapefile, chosen by
the output's suffix. Memory: one byte per pixel of the raster plus the polygons.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import shapes, sieve
from shapely.geometry import shape

from semiseg.errors import UserError
from semiseg.io.atomic import atomic_directory, atomic_path
from semiseg.io.rasters import open_raster, raster_info, refuse_if_too_large_to_hold


DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile"}


def vector_driver(out: Path) -> str:
    """GDAL's driver for a polygon file, from its suffix; one line for any other."""
    driver = DRIVERS.get(Path(out).suffix.lower())
    if driver is None:
        raise UserError(f"{out}: expected a {', '.join(DRIVERS)} file")
    return driver


# Polygonizing holds the class raster whole: its ids, the valid mask, the sieved copy.
POLYGONIZE_BYTES_PER_PIXEL = 4
POLYGONIZE_FIX = "polygonize a part of it (predict with --bounds, or cut the class raster with gdal_translate -projwin)"


def polygonize(classes_tif: Path, out: Path, class_names: list[str], nodata: int, min_pixels: int, simplify: float = 0.0) -> int:
    """Write one polygon per 4-connected region of a class (fields class_id, class); return the count.

    Coordinates are those QGIS shows the raster in (its CRS, or x = column, y = -row without one),
    so the polygons lie exactly on the class raster's pixel edges (unless simplified).
    """
    out = Path(out)
    driver = vector_driver(out)
    if simplify < 0:
        raise UserError(f"--simplify {simplify}: expected a distance of 0 or more")
    info = raster_info(classes_tif)
    refuse_if_too_large_to_hold(classes_tif, info.width, info.height, "polygonizing it", POLYGONIZE_BYTES_PER_PIXEL, POLYGONIZE_FIX)
    with open_raster(classes_tif) as ds:
        ids = ds.read(1)
    valid = ids != nodata
    if min_pixels > 1:
        ids = sieve(ids, min_pixels, mask=valid.astype(np.uint8), connectivity=4)
    regions = [(shape(geometry), int(value)) for geometry, value in shapes(ids, mask=valid, connectivity=4, transform=info.label_transform)]
    geometries = [g for g, _ in regions]
    if simplify > 0 and geometries:
        geometries = list(shapely.coverage_simplify(np.array(geometries, dtype=object), simplify))
    frame = gpd.GeoDataFrame(  # typed columns: an empty result keeps the same schema
        {
            "class_id": pd.Series([v for _, v in regions], dtype="int32"),
            "class": pd.Series([class_names[v] for _, v in regions], dtype=object),
        },
        geometry=geometries,
        crs=info.crs,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # a seismic section has none, on purpose
        if driver == "ESRI Shapefile":
            _write_shapefile(frame, out)
        else:
            with atomic_path(out) as tmp:
                # GeoPackage 1.2: QGIS 3.22's GDAL warns on every open of the 1.4 files newer GDAL writes.
                options = {"VERSION": "1.2"} if driver == "GPKG" else {}
                frame.to_file(tmp, driver=driver, layer=out.stem, geometry_type="Polygon", dataset_options=options)
    return len(frame)


def _write_shapefile(frame: gpd.GeoDataFrame, out: Path) -> None:
    """A Shapefile is several files: written whole in a scratch folder, then moved beside each
    other, the .shp last, so a .shp under the final name always has its sidecars complete."""
    with atomic_directory(out.with_name(out.name + ".parts")) as folder:
        frame.to_file(folder / out.name, driver="ESRI Shapefile", geometry_type="Polygon", engine="pyogrio", layer_options={"ENCODING": "UTF-8"})
        parts = sorted(folder.iterdir(), key=lambda p: p.suffix.lower() == ".shp")
        for part in parts:
            os.replace(part, out.with_name(part.name))
