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


def test_simplified_polygons_still_tile_the_map_without_gaps_or_overlaps(tmp_path):
    rows, cols = np.mgrid[0:60, 0:60]
    ids = (cols > rows).astype(np.uint8)  # a staircase diagonal between two classes
    ids[45:, :12] = 2
    tif = write_raster(tmp_path / "a_classes.tif", ids, nodata=255)
    polygonize(tif, tmp_path / "exact.gpkg", NAMES, 255, min_pixels=1)
    polygonize(tif, tmp_path / "simple.gpkg", NAMES, 255, min_pixels=1, simplify=6.0)  # 3 pixels of 2 m
    exact, simple = gpd.read_file(tmp_path / "exact.gpkg"), gpd.read_file(tmp_path / "simple.gpkg")
    vertices = lambda frame: sum(len(g.exterior.coords) for g in frame.geometry)  # noqa: E731
    assert len(simple) == len(exact) and vertices(simple) < vertices(exact) / 4
    union = simple.geometry.union_all()
    assert abs(simple.geometry.area.sum() - union.area) < 1e-6  # no overlap between neighbours
    assert abs(union.area - exact.geometry.union_all().area) < 1e-6  # and no gap: the same outline
    assert all(g.is_valid for g in simple.geometry)


@pytest.mark.parametrize("suffix", [".geojson", ".shp"])
def test_polygons_can_be_geojson_or_a_shapefile(tmp_path, suffix):
    tif = write_raster(tmp_path / "a_classes.tif", _class_map(), nodata=255)
    out = tmp_path / f"a_polygons{suffix}"
    assert polygonize(tif, out, NAMES, 255, min_pixels=1) == 4
    polygons = gpd.read_file(out)
    assert len(polygons) == 4 and polygons.crs == UTM33 and set(polygons["class"]) == set(NAMES)
    if suffix == ".shp":
        assert {p.suffix for p in tmp_path.glob("a_polygons.*")} >= {".shp", ".shx", ".dbf", ".prj"}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def test_the_vectorize_command_names_a_bad_input_in_one_line(tmp_path, capsys):
    from semiseg.cli import main

    tif = write_raster(tmp_path / "a_classes.tif", _class_map(), nodata=255)
    assert main(["vectorize", str(tif), "--out", str(tmp_path / "a.kml")]) == 2
    assert "a.kml: expected a .gpkg, .geojson, .json, .shp file" in capsys.readouterr().err
    plain = write_raster(tmp_path / "plain.tif", _class_map())
    assert main(["vectorize", str(plain), "--out", str(tmp_path / "p.gpkg")]) == 2
    assert "not a SemiSeg class raster" in capsys.readouterr().err
