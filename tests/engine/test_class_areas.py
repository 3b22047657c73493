"""`semiseg stats`: class areas an analyst reports, exact on constructed maps."""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import box

from semiseg.cli import main
from semiseg.predict.class_areas import class_areas

UTM = CRS.from_epsg(32633)
TWO_METRES = Affine(2.0, 0.0, 500_000.0, 0.0, -2.0, 5_000_000.0)  # 4 m² pixels
NAMES = ["water", "field", "forest"]


def _write_map(path, ids: np.ndarray, transform=TWO_METRES, crs=UTM, confidence: np.ndarray | None = None, names=NAMES):
    profile = dict(driver="GTiff", width=ids.shape[1], height=ids.shape[0], count=1, transform=transform, crs=crs)
    with rasterio.open(path, "w", dtype="uint8", nodata=255, **profile) as ds:
        ds.write(ids[None].astype(np.uint8))
        ds.update_tags(1, **{f"class_{i}": n for i, n in enumerate(names)})
    if confidence is not None:
        with rasterio.open(str(path).replace("_classes", "_confidence"), "w", dtype="float32", nodata=-1, **profile) as ds:
            ds.write(confidence[None].astype(np.float32))
    return path


def _scene():
    ids = np.zeros((10, 20), np.uint8)
    ids[:, 10:] = 1  # right half field
    ids[:4, 15:] = 2  # a forest corner: 4 x 5
    ids[9, :3] = 255  # nodata
    confidence = np.full(ids.shape, 0.9)
    confidence[:, :5] = 0.3  # the left quarter is uncertain (water)
    return ids, confidence


def _by_class(rows, zone="all"):
    return {r["class"]: r for r in rows if r["zone"] == zone}


def test_pixels_areas_and_shares_follow_the_crs_and_skip_nodata(tmp_path):
    ids, confidence = _scene()
    path = _write_map(tmp_path / "a_classes.tif", ids, confidence=confidence)
    rows = _by_class(class_areas(path, tmp_path / "a_confidence.tif"))
    assert [rows[n]["pixels"] for n in NAMES] == [97, 80, 20]  # 100 - 3 nodata, 100 - 20, 4 x 5
    assert rows["field"]["area_m2"] == 320.0 and rows["field"]["area_ha"] == 0.032
    assert rows["water"]["share"] == pytest.approx(97 / 197, abs=1e-6)
    # 50 uncertain water pixels (0.3) minus the 3 nodata of row 9, columns 0-2, which lie inside them
    assert rows["water"]["low_confidence_share"] == pytest.approx(47 / 97, abs=1e-6)
    assert rows["water"]["confidence_weighted_area_m2"] == pytest.approx(4 * (47 * 0.3 + 50 * 0.9), abs=1e-3)
    assert rows["forest"]["low_confidence_share"] == 0.0


def test_areas_per_zone_add_up_to_the_whole(tmp_path):
    ids, _ = _scene()
    path = _write_map(tmp_path / "a_classes.tif", ids)
    west, north = 500_000.0, 5_000_000.0
    zones = gpd.GeoDataFrame({"parcel": ["east", "west"]}, geometry=[box(west + 20, north - 20, west + 40, north), box(west, north - 20, west + 20, north)], crs=UTM)
    zones.to_file(tmp_path / "zones.gpkg")
    rows = class_areas(path, zones=tmp_path / "zones.gpkg", zone_field="parcel")
    east, west_zone, whole = _by_class(rows, "east"), _by_class(rows, "west"), _by_class(rows)
    assert east["water"]["pixels"] == 0 and east["field"]["pixels"] == 80 and east["forest"]["pixels"] == 20
    assert west_zone["water"]["pixels"] == 97 and west_zone["field"]["pixels"] == 0
    for name in NAMES:
        assert east[name]["pixels"] + west_zone[name]["pixels"] == whole[name]["pixels"]


def test_geographic_pixels_are_measured_on_the_ellipsoid(tmp_path):
    ids = np.zeros((2, 1), np.uint8)
    ids[1, 0] = 1
    one_degree = Affine(1.0, 0.0, 10.0, 0.0, -1.0, 61.0)  # rows 60-61 N and 59-60 N
    rows = _by_class(class_areas(_write_map(tmp_path / "g_classes.tif", ids, one_degree, CRS.from_epsg(4326))))
    # A 1 x 1 degree cell at 60-61 N on WGS84: 111.41 km of meridian x 54.96 km of parallel = 6,123 km²
    # (a sphere of the same surface gives 6,085; a flat 1 x 1 "degree" pixel, nothing sensible).
    assert rows["water"]["area_m2"] == pytest.approx(6.123e9, rel=0.002)
    assert rows["field"]["area_m2"] > rows["water"]["area_m2"]  # nearer the equator: larger


def test_uncertain_means_the_same_for_two_classes_as_for_many(tmp_path):
    """The top probability of two classes is never below 0.5: uncertain is below halfway from
    chance (1/K) to certainty, 0.75 for two classes, so a near coin-flip of a seismic map counts."""
    ids = np.zeros((10, 20), np.uint8)
    ids[:, 10:] = 1
    confidence = np.full(ids.shape, 0.95)
    confidence[:, 15:] = 0.6  # half of the second class: nearly a coin flip
    path = _write_map(tmp_path / "s_classes.tif", ids, Affine.identity(), None, confidence, names=["salt", "sediment"])
    rows = _by_class(class_areas(path, tmp_path / "s_confidence.tif"))
    assert rows["salt"]["low_confidence_share"] == 0.0
    assert rows["sediment"]["low_confidence_share"] == pytest.approx(0.5)
    assert _by_class(class_areas(path, tmp_path / "s_confidence.tif", low_confidence=0.5))["sediment"]["low_confidence_share"] == 0.0
    from semiseg.predict.class_areas import uncertain_below
    assert [round(uncertain_below(k), 3) for k in (2, 3, 10)] == [0.75, 0.667, 0.55]


def test_the_command_counts_uncertain_pixels_by_the_class_count_rule_unless_told(tmp_path):
    """`semiseg stats` without --low-confidence uses the same rule as `semiseg predict` (0.75 for two
    classes), so a seismic map's table is not always 0 % uncertain; --low-confidence still overrides."""
    ids = np.zeros((10, 20), np.uint8)
    ids[:, 10:] = 1
    confidence = np.full(ids.shape, 0.95)
    confidence[:, 15:] = 0.6
    path = _write_map(tmp_path / "s_classes.tif", ids, Affine.identity(), None, confidence, names=["salt", "sediment"])
    shares = {}
    for name, extra in (("default", []), ("told", ["--low-confidence", "0.5"])):
        assert main(["stats", str(path), "--out", str(tmp_path / f"{name}.csv"), *extra]) == 0
        shares[name] = {r["class"]: float(r["low_confidence_share"]) for r in csv.DictReader((tmp_path / f"{name}.csv").open())}
    assert shares["default"]["sediment"] == pytest.approx(0.5) and shares["told"]["sediment"] == 0.0


def test_without_a_crs_only_pixels_are_counted(tmp_path):
    ids, _ = _scene()
    rows = _by_class(class_areas(_write_map(tmp_path / "s_classes.tif", ids, Affine.identity(), None)))
    assert rows["field"]["pixels"] == 80 and rows["field"]["area_m2"] is None and rows["field"]["area_ha"] is None


def test_the_command_writes_csv_and_json_and_finds_the_confidence_beside_the_map(tmp_path, capsys):
    ids, confidence = _scene()
    path = _write_map(tmp_path / "a_classes.tif", ids, confidence=confidence)
    assert main(["stats", str(path), "--out", str(tmp_path / "areas.csv")]) == 0
    table = list(csv.DictReader((tmp_path / "areas.csv").open()))
    assert [r["class"] for r in table] == NAMES and table[1]["area_m2"] == "320.0"
    assert table[0]["low_confidence_share"] != ""  # the confidence raster beside the map was read
    assert json.loads((tmp_path / "areas.json").read_text())["rows"][1]["pixels"] == 80
    assert "field" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--zone-field", "x"], "--zone-field: needs --zones"),
    (["--low-confidence", "2"], "--low-confidence 2.0: expected a probability"),
])
def test_bad_options_are_one_line_and_write_nothing(tmp_path, capsys, argv, message):
    path = _write_map(tmp_path / "a_classes.tif", _scene()[0])
    assert main(["stats", str(path), "--out", str(tmp_path / "areas.csv"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "areas.csv").exists()


def test_a_raster_that_is_not_a_class_map_is_named_in_one_line(tmp_path, capsys):
    with rasterio.open(tmp_path / "plain.tif", "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8") as ds:
        ds.write(np.zeros((1, 4, 4), np.uint8))
    assert main(["stats", str(tmp_path / "plain.tif"), "--out", str(tmp_path / "areas.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "plain.tif: not a SemiSeg class raster" in err and len(err.splitlines()) == 1
