"""Class polygons: they lie exactly on the class raster's pixels, keep its classes, CRS and nodata."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from rasterio.features import rasterize

from conftest import TRANSFORM, UTM33, write_raster
from semiseg.io.rasters import QGIS_PIXEL_TRANSFORM
from semiseg.predict.polygons import polygonize
from semiseg.predict.styles import polygons_qml

NAMES = ["field", "forest", "water"]


def _class_map() -> np.ndarray:
    ids = np.zeros((40, 50), dtype=np.uint8)
    ids[:, 25:] = 1
    ids[30:, 10:20] = 2
    ids[5:7, 5:7] = 1  # a 4-pixel island of forest in the field
    ids[0:4, 40:50] = 255  # nodata
    return ids


@pytest.mark.parametrize("georeferenced", [True, False])
def test_polygons_burn_back_to_the_class_raster_pixel_for_pixel(tmp_path, georeferenced):
    ids = _class_map()
    kwargs = {"nodata": 255} if georeferenced else {"nodata": 255, "transform": None, "crs": None}
    tif = write_raster(tmp_path / "a_classes.tif", ids, **kwargs)
    count = polygonize(tif, tmp_path / "a_polygons.gpkg", NAMES, 255, min_pixels=1)
    polygons = gpd.read_file(tmp_path / "a_polygons.gpkg")
    assert count == len(polygons) == 4  # field, forest, water, the island
    transform = TRANSFORM if georeferenced else QGIS_PIXEL_TRANSFORM  # where QGIS shows the raster
    assert (polygons.crs == UTM33) if georeferenced else polygons.crs is None
    burnt = rasterize(zip(polygons.geometry, polygons.class_id), out_shape=ids.shape, transform=transform, fill=255, dtype="uint8")
    np.testing.assert_array_equal(burnt, ids)
    assert dict(zip(polygons.class_id, polygons["class"])) == {0: "field", 1: "forest", 2: "water"}


def test_regions_below_the_minimum_size_merge_into_their_neighbour(tmp_path):
    tif = write_raster(tmp_path / "a_classes.tif", _class_map(), nodata=255)
    assert polygonize(tif, tmp_path / "a_polygons.gpkg", NAMES, 255, min_pixels=5) == 3
    polygons = gpd.read_file(tmp_path / "a_polygons.gpkg")
    burnt = rasterize(zip(polygons.geometry, polygons.class_id), out_shape=(40, 50), transform=TRANSFORM, fill=255, dtype="uint8")
    assert (burnt[5:7, 5:7] == 0).all()  # the island became field
    assert (burnt[0:4, 40:50] == 255).all()  # nodata stays without polygons


def test_an_all_nodata_map_gives_an_empty_layer_with_the_same_fields(tmp_path):
    import pyogrio

    tif = write_raster(tmp_path / "a_classes.tif", np.full((20, 20), 255, np.uint8), nodata=255)
    assert polygonize(tif, tmp_path / "a_polygons.gpkg", NAMES, 255, min_pixels=16) == 0
    info = pyogrio.read_info(tmp_path / "a_polygons.gpkg")
    assert dict(zip(info["fields"], info["dtypes"])) == {"class_id": "int32", "class": "object"}


def test_polygon_style_names_and_colours_every_class():
    qml = polygons_qml(NAMES, ["#ffff00", "#00aa00", "#0000ff"])
    assert 'attr="class_id"' in qml and 'label="forest"' in qml and 'value="0,170,0,255"' in qml
