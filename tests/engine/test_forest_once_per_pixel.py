"""A model's pixel forest is computed once per pixel, not once per overlapping window (issue 39):
the same map as the per-window blend, at a fraction of the forest's work.

The forest is fitted on a real aerial crop; the reference is the same model computed the old
way, every window through the whole blend (an opaque wrapper hides that it holds a forest).
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
import torch.nn as nn
from rasterio.transform import from_origin

from conftest import require_shared_data
from method_helpers import one_thread  # noqa: F401 (autouse fixture)
from semiseg.models.blend import ForestBlend
from semiseg.models.filter_bank import filter_features
from semiseg.models.forest import PixelForest, fit_forest
from semiseg.models.package import ModelCard
from semiseg.models.second_opinion import disagreement
from semiseg.predict import pixelwise
from semiseg.predict.raster import PredictOptions, WindowPredictor, predict_raster
from semiseg.predict.suggestions import DoubtTally

NODATA = -9999.0
HEIGHT, WIDTH = 560, 500


class PerWindow(nn.Module):
    """The model as the predictor saw every model before: a window in, the whole blend out."""

    wants_valid_mask = True

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images, valid=None):
        return self.model(images, valid)


class CountingForest(PixelForest):
    """A forest that counts the pixels its trees classify."""

    pixels = 0

    def class_probabilities(self, features):
        CountingForest.pixels += len(features)
        return super().class_probabilities(features)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A real orthophoto crop with a nodata hole, its card, a forest fitted on its features and a small network."""
    folder = require_shared_data("aerial-dubai")
    with rasterio.open(folder / "images" / "dubai_t3_p001.tif") as ds:
        image = ds.read([1, 2, 3], window=((0, HEIGHT), (0, WIDTH))).astype(np.float32)
    image[:, 200:250, 120:190] = NODATA
    path = tmp_path_factory.mktemp("scene") / "crop.tif"
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=3, dtype="float32", nodata=NODATA,
                       crs="EPSG:32640", transform=from_origin(500_000, 2_800_000, 0.5, 0.5)) as ds:
        ds.write(image)
    valid = image[0] != NODATA
    mean, std = float(image[:, valid].mean()), float(image[:, valid].std())
    x = torch.from_numpy((image - mean) / std * valid)[None]
    features = filter_features(x, torch.from_numpy(valid)[None])[0].reshape(147, -1).numpy()
    pick = np.random.default_rng(0).choice(np.flatnonzero(valid.reshape(-1)), 4000, replace=False)
    labels = (features[1, pick] > np.median(features[1, pick])).astype(np.int64) + (features[60, pick] > 0)
    fitted = fit_forest(np.ascontiguousarray(features[:, pick].T), labels, 3, trees=8, seed=0)
    forest = CountingForest(*(getattr(fitted, n) for n in ("scales", "tree_sizes", "left", "right", "feature", "threshold", "leaf_probs")))
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 3, 5, padding=2)).eval()
    card = ModelCard(class_names=["a", "b", "c"], class_colors=["#000000", "#ff0000", "#00ff00"], bands=[1, 2, 3], mean=[mean] * 3,
                     std=[std] * 3, arch="unet", encoder="test", in_channels=3, tile_size=128, method={"name": "test"})
    return path, card, forest, network


def _maps(card, model, raster, out, tta=False, second=None):
    CountingForest.pixels = 0
    paths = predict_raster(card, WindowPredictor(model, torch.device("cpu"), 4, tta=tta, second=second), raster, out, PredictOptions(0.5))
    with rasterio.open(paths.classes) as c, rasterio.open(paths.confidence) as f:
        return c.read(1), f.read(1), CountingForest.pixels


@pytest.mark.parametrize("weight", [0.5, 1.0], ids=["blend", "forest alone"])
def test_the_map_is_the_per_window_map_and_the_forest_computes_each_pixel_about_once(scene, tmp_path, weight):
    raster, card, forest, network = scene
    model = ForestBlend(network, forest, weight) if weight < 1 else forest
    classes, confidence, pixels = _maps(card, model, raster, tmp_path / "once")
    old_classes, old_confidence, old_pixels = _maps(card, PerWindow(model), raster, tmp_path / "per-window")
    valid = classes != 255
    assert np.array_equal(valid, old_classes != 255)  # the same nodata
    assert (classes[valid] == old_classes[valid]).mean() >= 0.999
    # The per-window forest cut its filters at every window edge (replicated there); the blend's
    # weights made that small: a few pixels beside the hole and the edges move by more than 1e-3.
    assert np.abs(confidence - old_confidence)[valid].mean() < 1e-3
    # Windows of 128 px at half overlap: every pixel in ~4 of them; once per pixel with the halo
    # of the largest filter (32 px) around bands of 256 rows.
    assert old_pixels >= 3 * HEIGHT * WIDTH
    assert pixels <= 1.6 * HEIGHT * WIDTH


def test_test_time_augmentation_computes_the_forest_once_not_for_each_symmetry(scene, tmp_path):
    raster, card, forest, network = scene
    blend = ForestBlend(network, forest, 0.5)
    _, _, plain = _maps(card, blend, raster, tmp_path / "plain")
    classes, _, with_tta = _maps(card, blend, raster, tmp_path / "tta", tta=True)
    old_classes, _, _ = _maps(card, PerWindow(blend), raster, tmp_path / "tta-per-window", tta=True)
    assert with_tta == plain
    valid = classes != 255
    assert (classes[valid] == old_classes[valid]).mean() >= 0.999  # the bank is invariant under the symmetries


def test_a_second_opinion_disagrees_as_the_two_whole_blends_do(scene):
    """The suggestions' disagreement channel: the forest both blends share cancels out of it but
    for its weight, so the split predictor gives the per-window blends' disagreement."""
    raster, card, forest, network = scene
    torch.manual_seed(1)
    student = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 3, 5, padding=2)).eval()
    teacher, second = ForestBlend(network, forest, 0.25), ForestBlend(student, forest, 0.25)
    with rasterio.open(raster) as ds:
        data = ds.read(window=((0, 128), (0, 128)))
    images = card.stats.apply(data)[None].astype(np.float32)
    valid = np.ones((1, 128, 128), bool)
    split = WindowPredictor(teacher, torch.device("cpu"), 4, second=second).probabilities(images, valid)
    with torch.no_grad():
        x, v = torch.from_numpy(images), torch.from_numpy(valid)
        whole = disagreement(teacher(x, v).exp(), second(x, v).exp()).numpy()
    assert np.abs(split[:, 3:] - whole).max() < 1e-5
    assert np.abs(split[:, :3] - network(x).softmax(1).detach().numpy()).max() < 1e-6  # the windowed part is the network's


def test_a_blend_with_a_second_opinion_gives_the_per_window_suggestion_tally(scene, tmp_path, monkeypatch):
    raster, card, forest, network = scene
    torch.manual_seed(1)
    student = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 3, 5, padding=2)).eval()
    teacher, second = ForestBlend(network, forest, 0.5), ForestBlend(student, forest, 0.5)
    tallies = []
    original = DoubtTally.arrays
    monkeypatch.setattr(DoubtTally, "arrays", lambda self: tallies.append(original(self)) or tallies[-1])
    options = PredictOptions(0.5, suggestions=5)
    predict_raster(card, WindowPredictor(teacher, torch.device("cpu"), 4, second=second), raster, tmp_path / "once", options)
    predict_raster(card, WindowPredictor(PerWindow(teacher), torch.device("cpu"), 4, second=PerWindow(second)), raster, tmp_path / "old", options)
    once, old = tallies[0], tallies[-1]
    for name in once:
        a, b = np.asarray(once[name], np.float64), np.asarray(old[name], np.float64)
        assert np.allclose(a, b, rtol=2e-2, atol=1e-3), name


def test_the_forest_of_a_band_does_not_depend_on_how_it_is_cut_into_pieces(scene, monkeypatch):
    """The halo reaches as far as the largest filter, on the coarse grid's cells: pieces of any
    width give the pixels of one piece over the whole width (away from nodata, where the fill
    reads further)."""
    raster, card, forest, _ = scene
    part = pixelwise.PixelwisePart(forest, 1.0)
    with rasterio.open(raster) as ds:
        whole = pixelwise.PixelwiseRows(ds, card, part, (0, 0), torch.device("cpu"), HEIGHT).probabilities(300, 180, 0, WIDTH)
        monkeypatch.setattr(pixelwise, "_PIECE_PIXELS", 180 * 96)  # pieces 96 px wide
        pieces = pixelwise.PixelwiseRows(ds, card, part, (0, 0), torch.device("cpu"), HEIGHT).probabilities(300, 180, 0, WIDTH)
    assert np.abs(whole - pieces).max() < 1e-5
