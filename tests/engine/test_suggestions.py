"""Suggestions: where the model doubts most, spread out, never on nodata, in the raster's CRS."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import rasterio
import torch
import torch.nn as nn
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import Point

from semiseg.cli import main
from semiseg.models.package import ModelCard
from semiseg.predict.raster import PredictOptions, WindowPredictor, predict_raster
from semiseg.predict.suggestions import CELL, FIELDS, MIN_DISTANCE, DoubtTally

UTM = CRS.from_epsg(32633)
TRANSFORM = Affine(0.5, 0, 600_000, 0, -0.5, 5_650_000)
NAMES = ["dark", "bright", "other"]


class Brightness(nn.Module):
    """Logits from band 1 alone: dark (0) is class 0, bright (255) class 1, mid-grey a tie of
    the two; class 2 is never likely. A real network, so predict runs as for any model."""

    def forward(self, x):
        v = x[:, :1] - 0.5  # band 1 / 255 - 0.5
        return torch.cat([-20 * v, 20 * v, torch.full_like(v, -30)], dim=1)


def _card() -> ModelCard:
    return ModelCard(NAMES, ["#000000", "#ffffff", "#ff0000"], [1], [0.0], [255.0], "unet", "resnet18", 1, 64, {"name": "supervised"})


def _scene(tmp_path, blobs, nodata_box=None):
    """A 256 x 320 raster half dark, half bright, with mid-grey (ambiguous) disks at `blobs`
    ((row, col, radius, grey)); `nodata_box` (r0, r1, c0, c1) is nodata."""
    rows, cols = np.mgrid[0:256, 0:320]
    image = np.where(cols < 160, 10, 245).astype(np.uint8)
    for r, c, radius, grey in blobs:
        image[(rows - r) ** 2 + (cols - c) ** 2 < radius**2] = grey
    if nodata_box is not None:
        r0, r1, c0, c1 = nodata_box
        image[r0:r1, c0:c1] = 0
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=320, height=256, count=1, dtype="uint8", crs=UTM, transform=TRANSFORM, nodata=0) as ds:
        ds.write(image[None])
    return path


def _predict(tmp_path, path, count=20):
    predictor = WindowPredictor(Brightness(), torch.device("cpu"), 4)
    return predict_raster(_card(), predictor, path, tmp_path / "out", PredictOptions(0.25, suggestions=count))


def test_the_two_ambiguous_blobs_come_first_with_the_classes_the_model_hesitates_between(tmp_path):
    # the stronger doubt (a perfect tie, grey 128) ranks before the weaker one (grey 120)
    blobs = [(200, 60, 14, 120), (60, 250, 14, 128)]
    paths = _predict(tmp_path, _scene(tmp_path, blobs))
    frame = gpd.read_file(paths.suggestions)
    assert list(frame.columns[:-1]) == list(FIELDS) and frame.crs == UTM
    assert list(frame["rank"]) == list(range(1, len(frame) + 1)) and list(frame["score"]) == sorted(frame["score"], reverse=True)
    for rank, (r, c, _, _) in zip((2, 1), blobs):
        centre = Point(TRANSFORM @ (c, r))
        assert frame[frame["rank"] == rank].geometry.iloc[0].distance(centre) < CELL * 0.5  # at (or beside) the blob
    assert set(frame.iloc[:2]["runner_up"]) | set(frame.iloc[:2]["class"]) == {"dark", "bright"}  # never "other"
    assert frame.iloc[1]["score"] > 10 * frame.iloc[2]["score"]  # the rest of the map is nearly certain
    assert 'fieldName="rank"' in paths.suggestions_style.read_text()


def test_suggestions_keep_the_documented_distance_apart(tmp_path):
    tally = DoubtTally(512, 512, 2)
    rng = np.random.default_rng(0)
    p = rng.uniform(0.3, 0.7, (512, 512))  # doubt everywhere: only the distance keeps them apart
    tally.add(0, np.stack([p, 1 - p]), np.ones((512, 512), bool))
    found = tally.suggestions(count=50)
    centres = np.array([(s.row + s.rows / 2, s.col + s.cols / 2) for s in found])
    gaps = np.hypot(*(centres[:, None] - centres[None]).transpose(2, 0, 1))
    assert len(found) > 10 and gaps[~np.eye(len(found), dtype=bool)].min() >= MIN_DISTANCE
    closer = tally.suggestions(count=50, min_distance=CELL)
    assert len(closer) == 50  # a smaller distance packs more of them


def test_no_suggestion_lies_on_nodata_however_doubtful_the_pixels_around(tmp_path):
    # an ambiguous blob cut through by a nodata band: only its valid part may be suggested
    path = _scene(tmp_path, [(128, 160, 40, 128)], nodata_box=(96, 160, 96, 224))
    paths = _predict(tmp_path, path)
    frame = gpd.read_file(paths.suggestions)
    with rasterio.open(path) as ds:
        valid = ds.read_masks(1) > 0
    inverse = ~TRANSFORM
    for geometry in frame.geometry:
        x0, y0, x1, y1 = geometry.bounds
        c0, r0 = (int(round(v)) for v in inverse @ (x0, y1))
        c1, r1 = (int(round(v)) for v in inverse @ (x1, y0))
        assert valid[r0:r1, c0:c1].mean() >= 0.5  # no region of mostly nodata


def test_the_command_writes_suggestions_unless_told_none(tmp_path, capsys):
    from semiseg.models.network import build_network
    from semiseg.models.package import save_package

    torch.manual_seed(0)
    save_package(tmp_path / "model", _card(), build_network("unet", "resnet18", 1, 3))  # any network will doubt somewhere
    path = _scene(tmp_path, [(60, 250, 14, 128)])
    assert main(["predict", str(tmp_path / "model"), str(path), "--out", str(tmp_path / "a"), "--quiet", "--suggest", "3"]) == 0
    assert len(gpd.read_file(tmp_path / "a" / "scene_suggestions.gpkg")) == 3
    assert main(["predict", str(tmp_path / "model"), str(path), "--out", str(tmp_path / "b"), "--quiet", "--suggest", "0"]) == 0
    assert not (tmp_path / "b" / "scene_suggestions.gpkg").exists()
    assert main(["predict", str(tmp_path / "model"), str(path), "--out", str(tmp_path / "c"), "--suggest", "-1"]) == 2
    assert capsys.readouterr().err.strip().endswith("--suggest -1: expected a count of 0 or more")


class Disputed(Brightness):
    """Brightness, except that it calls grey 30 bright (certain either way): a student that
    has not settled what the teacher still calls dark."""

    def forward(self, x):
        logits = super().forward(x)
        disputed = ((x[:, :1] * 255 - 30).abs() < 3).float()
        return logits * (1 - 2 * disputed * torch.tensor([1.0, 1.0, 0.0]).view(1, 3, 1, 1))


def test_a_second_opinion_adds_where_teacher_and_student_disagree_even_where_both_are_confident(tmp_path):
    # the grey-120 blob is doubtful to both networks; the grey-30 blob certain to each, but they disagree there
    blobs = [(200, 60, 14, 120), (60, 250, 14, 30)]
    path = _scene(tmp_path, blobs)
    alone = gpd.read_file(_predict(tmp_path, path).suggestions)
    predictor = WindowPredictor(Brightness(), torch.device("cpu"), 4, second=Disputed())
    paired = gpd.read_file(predict_raster(_card(), predictor, path, tmp_path / "paired", PredictOptions(0.25, suggestions=20)).suggestions)
    near = lambda frame, rank, blob: frame[frame["rank"] == rank].geometry.iloc[0].distance(Point(TRANSFORM @ (blob[1], blob[0]))) < CELL * 0.5
    assert near(alone, 1, blobs[0]) and near(alone, 2, blobs[1]) and alone.iloc[1]["score"] < 1e-3  # margin alone: it looks certain
    assert near(paired, 1, blobs[1]) and near(paired, 2, blobs[0])
    assert abs(paired.iloc[1]["score"] - alone.iloc[0]["score"]) < 1e-6  # no disagreement there: the margin alone


def test_the_disagreement_is_the_total_variation_between_the_two_opinions():
    window = np.random.default_rng(0).uniform(0, 1, (2, 1, 32, 32)).astype(np.float32)
    valid = np.ones((2, 32, 32), bool)
    plain = WindowPredictor(Brightness(), torch.device("cpu"), 4).probabilities(window, valid)
    same = WindowPredictor(Brightness(), torch.device("cpu"), 4, second=Brightness()).probabilities(window, valid)
    np.testing.assert_allclose(same[:, :3], plain)  # the model's own probabilities are untouched
    assert np.all(same[:, 3] == 0)
    flipped = WindowPredictor(Brightness(), torch.device("cpu"), 4, second=Disputed()).probabilities(window * 0 + 30 / 255, valid)
    np.testing.assert_allclose(flipped[:, 3], np.abs(flipped[:, 0] - flipped[:, 1]), atol=1e-6)  # two classes: |p0 - q0|
    assert flipped[:, 3].min() > 0.99


class CountingForest(nn.Module):
    """A forest's interface (log-probabilities of the window, given its validity) that counts its windows."""

    wants_valid_mask = True

    def __init__(self):
        super().__init__()
        self.windows = 0

    def forward(self, x, valid=None):
        self.windows += len(x)
        return torch.full((len(x), 3) + x.shape[2:], 1 / 3).log()


def test_a_blended_pair_leaves_its_shared_forest_out_of_the_windows_and_disagrees_by_the_networks_share():
    from semiseg.models.blend import ForestBlend

    forest = CountingForest()
    model, student = ForestBlend(Brightness(), forest, 0.25), ForestBlend(Disputed(), forest, 0.25)
    window = np.full((6, 1, 32, 32), 30 / 255, np.float32)  # where the two networks disagree, both certain
    valid = np.ones((6, 32, 32), bool)
    for tta in (False, True):
        forest.windows = 0
        p = WindowPredictor(model, torch.device("cpu"), 4, tta=tta, second=student).probabilities(window, valid)
        assert forest.windows == 0  # the blends' forest runs once per pixel, outside the windows (predict/pixelwise.py)
        np.testing.assert_allclose(p[:, 3], 0.75, atol=1e-4)  # (1 - w) x the networks' total variation (1)
    assert model.forest is forest and student.forest is forest  # the modules given are left as they were


class Uniform(nn.Module):
    """A context network's interface (bands and the forest's class channels in): no opinion."""

    def forward(self, x):
        return torch.zeros((len(x), 3) + x.shape[2:])


def test_a_context_pair_computes_its_shared_forest_once_per_window():
    """A context model's forest is part of its windows (the network reads it): the second
    opinion reuses the teacher's forest output rather than computing it again."""
    from semiseg.models.context import ForestContext

    forest = CountingForest()
    model, student = ForestContext(Uniform(), forest), ForestContext(Uniform(), forest)
    window = np.full((6, 1, 32, 32), 30 / 255, np.float32)
    valid = np.ones((6, 32, 32), bool)
    for tta, orientations in ((False, 1), (True, 8)):
        forest.windows = 0
        WindowPredictor(model, torch.device("cpu"), 4, tta=tta, second=student).probabilities(window, valid)
        assert forest.windows == 6 * orientations  # not twice
    assert model.forest is forest and student.forest is forest
