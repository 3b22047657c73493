"""Vector labels land on exactly the pixels a user drew them over."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from conftest import TRANSFORM, UTM33, write_raster
from semiseg.data.labels import IGNORE_INDEX, load_labels
from semiseg.errors import UserError
from semiseg.io.rasters import raster_info


@pytest.fixture
def raster(tmp_path):
    return raster_info(write_raster(tmp_path / "r.tif", np.zeros((1, 50, 60), np.uint8)))


def _pixel_box(col0, row0, col1, row1, transform=TRANSFORM):
    x0, y0 = transform @ (col0, row0)
    x1, y1 = transform @ (col1, row1)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def test_polygon_fills_exactly_its_pixels(tmp_path, raster):
    gpd.GeoDataFrame({"class_id": [1]}, geometry=[_pixel_box(10, 5, 20, 15)], crs=UTM33).to_file(tmp_path / "l.gpkg", driver="GPKG")
    ids = load_labels(tmp_path / "l.gpkg", raster, 2).ids
    expected = np.full((50, 60), IGNORE_INDEX, np.uint8)
    expected[5:15, 10:20] = 1
    np.testing.assert_array_equal(ids, expected)


def test_labels_in_another_crs_are_reprojected(tmp_path, raster):
    square = gpd.GeoDataFrame({"class_id": [1]}, geometry=[_pixel_box(10, 5, 20, 15)], crs=UTM33)
    square.to_crs("EPSG:4326").to_file(tmp_path / "ll.geojson", driver="GeoJSON")
    ids = load_labels(tmp_path / "ll.geojson", raster, 2).ids
    labelled = np.argwhere(ids == 1)
    # Reprojection bends edges by far less than a pixel: the same 10x10 block within one pixel.
    assert abs(len(labelled) - 100) <= 20
    assert labelled[:, 0].min() in (4, 5) and labelled[:, 1].min() in (9, 10)


def test_line_is_burned_with_its_width_and_scribbles_win_over_regions(tmp_path, raster):
    line = LineString([TRANSFORM @ (5.5, 25.5), TRANSFORM @ (50.5, 25.5)])
    frame = gpd.GeoDataFrame({"class_id": [0, 1]}, geometry=[_pixel_box(0, 0, 60, 50), line], crs=UTM33)
    frame.to_file(tmp_path / "l.gpkg", driver="GPKG")
    ids = load_labels(tmp_path / "l.gpkg", raster, 2, line_width_px=5).ids
    rows_with_line = np.flatnonzero((ids[:, 20:40] == 1).any(axis=1))
    np.testing.assert_array_equal(rows_with_line, [23, 24, 25, 26, 27])  # 5 px wide, centred on row 25
    assert (ids == 0).sum() > 0.8 * ids.size  # the region fills the rest


def test_points_become_small_disks(tmp_path, raster):
    gpd.GeoDataFrame({"class_id": [1]}, geometry=[Point(TRANSFORM @ (30.5, 20.5))], crs=UTM33).to_file(tmp_path / "p.gpkg", driver="GPKG")
    ids = load_labels(tmp_path / "p.gpkg", raster, 2, point_radius_px=2).ids
    rows, cols = np.nonzero(ids == 1)
    # Centres exactly 2 px away sit on the disk's edge, where GDAL decides either way: 9 to 13 pixels.
    assert 9 <= len(rows) <= 13 and rows.mean() == pytest.approx(20, abs=0.25) and cols.mean() == pytest.approx(30, abs=0.25)
    assert rows.max() - rows.min() <= 4 and cols.max() - cols.min() <= 4  # radius 2: at most 5 px across


def test_a_line_thinner_than_a_pixel_still_burns_every_pixel_along_it(tmp_path, raster):
    line = LineString([TRANSFORM @ (5.3, 10.2), TRANSFORM @ (45.7, 30.9)])  # diagonal, off the pixel centres
    gpd.GeoDataFrame({"class_id": [1]}, geometry=[line], crs=UTM33).to_file(tmp_path / "thin.gpkg", driver="GPKG")
    ids = load_labels(tmp_path / "thin.gpkg", raster, 2, line_width_px=0.5).ids
    cols = np.flatnonzero((ids == 1).any(axis=0))
    np.testing.assert_array_equal(cols, np.arange(5, 46))  # no gap along the line


def test_lines_on_a_rotated_grid_burn_their_width(tmp_path):
    """The pixel size of a rotated grid is not its transform's a or e (both are 0 at 90 degrees)."""
    from affine import Affine

    rotated = Affine(0.0, 2.0, 500_000.0, 2.0, 0.0, 4_000_000.0)  # columns run north, rows east
    grid = raster_info(write_raster(tmp_path / "rot.tif", np.zeros((1, 50, 60), np.uint8), transform=rotated))
    line = LineString([rotated @ (5.5, 25.5), rotated @ (50.5, 25.5)])
    gpd.GeoDataFrame({"class_id": [1]}, geometry=[line], crs=UTM33).to_file(tmp_path / "l.gpkg", driver="GPKG")
    ids = load_labels(tmp_path / "l.gpkg", grid, 2, line_width_px=3).ids
    np.testing.assert_array_equal(np.flatnonzero((ids[:, 20:40] == 1).any(axis=1)), [24, 25, 26])


def test_every_layer_with_the_class_field_is_read(tmp_path, raster):
    path = tmp_path / "multi.gpkg"
    gpd.GeoDataFrame({"class_id": [0]}, geometry=[_pixel_box(0, 0, 5, 5)], crs=UTM33).to_file(path, layer="regions", driver="GPKG")
    gpd.GeoDataFrame({"class_id": [1]}, geometry=[_pixel_box(40, 40, 45, 45)], crs=UTM33).to_file(path, layer="more", driver="GPKG")
    gpd.GeoDataFrame({"note": ["x"]}, geometry=[_pixel_box(20, 20, 30, 30)], crs=UTM33).to_file(path, layer="notes", driver="GPKG")
    ids = load_labels(path, raster, 2).ids
    assert (ids == 0).sum() == 25 and (ids == 1).sum() == 25


def test_raster_without_georeference_reads_labels_in_qgis_pixel_coordinates(tmp_path):
    info = raster_info(write_raster(tmp_path / "seismic.tif", np.zeros((1, 40, 30), np.uint8), transform=None, crs=None))
    assert not info.georeferenced
    # QGIS shows such a raster with x = column and y = -row: rows 10..20, columns 5..15.
    gpd.GeoDataFrame({"class_id": [1]}, geometry=[box(5, -20, 15, -10)]).to_file(tmp_path / "s.gpkg", driver="GPKG")
    ids = load_labels(tmp_path / "s.gpkg", info, 2).ids
    expected = np.full((40, 30), IGNORE_INDEX, np.uint8)
    expected[10:20, 5:15] = 1
    np.testing.assert_array_equal(ids, expected)


def test_label_raster_on_another_grid_is_refused(tmp_path, raster):
    write_raster(tmp_path / "small.tif", np.zeros((1, 10, 10), np.uint8))
    with pytest.raises(UserError, match="small.tif.*10x10"):
        load_labels(tmp_path / "small.tif", raster, 2)


def test_label_raster_of_the_right_size_but_another_place_is_refused(tmp_path, raster):
    from affine import Affine

    shifted = TRANSFORM * Affine.translation(7, 0)  # seven pixels east of the raster
    write_raster(tmp_path / "shifted.tif", np.zeros((1, 50, 60), np.uint8), transform=shifted)
    with pytest.raises(UserError, match="shifted.tif: label raster is the size of r.tif but not on its grid"):
        load_labels(tmp_path / "shifted.tif", raster, 2)
    write_raster(tmp_path / "plain.tif", np.zeros((1, 50, 60), np.uint8), transform=None, crs=None)
    assert (load_labels(tmp_path / "plain.tif", raster, 2).ids == 0).all()  # a mask without georeference goes by size


def test_a_damaged_label_layer_is_a_user_error_naming_the_file(tmp_path, raster):
    gpd.GeoDataFrame({"class_id": [1]}, geometry=[_pixel_box(0, 0, 5, 5)], crs=UTM33).to_file(tmp_path / "d.geojson", driver="GeoJSON")
    text = (tmp_path / "d.geojson").read_text()
    (tmp_path / "d.geojson").write_text(text[: len(text) // 2])  # cut off, as by a full disk
    with pytest.raises(UserError, match=r"d\.geojson: "):
        load_labels(tmp_path / "d.geojson", raster, 2)


def test_missing_class_field_is_named(tmp_path, raster):
    gpd.GeoDataFrame({"kind": [1]}, geometry=[_pixel_box(0, 0, 5, 5)], crs=UTM33).to_file(tmp_path / "k.gpkg", driver="GPKG")
    with pytest.raises(UserError, match="class field 'class_id'"):
        load_labels(tmp_path / "k.gpkg", raster, 2)


def test_class_ids_in_a_text_field_are_read_and_class_names_are_refused(tmp_path, raster):
    """Layers made in QGIS can carry ids as text; a name instead of an id must be a clear error."""
    gpd.GeoDataFrame({"class_id": ["1"]}, geometry=[_pixel_box(10, 5, 20, 15)], crs=UTM33).to_file(tmp_path / "t.gpkg", driver="GPKG")
    assert (load_labels(tmp_path / "t.gpkg", raster, 2).ids == 1).sum() == 100
    gpd.GeoDataFrame({"class_id": ["1", "water"]}, geometry=[_pixel_box(10, 5, 20, 15), _pixel_box(0, 0, 5, 5)], crs=UTM33).to_file(
        tmp_path / "n.gpkg", driver="GPKG"
    )
    with pytest.raises(UserError, match=r"n\.gpkg: field 'class_id' must hold whole class ids, not 'water'"):
        load_labels(tmp_path / "n.gpkg", raster, 2)
