"""The pixel classifier (method pixel_forest): its filter bank, its forest, and the job through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from safetensors.torch import load_file

from conftest import CLASSES, events_of, sparse_labels, two_class_scene, write_job, write_raster
from method_helpers import one_thread  # noqa: F401 (autouse fixture)
from semiseg.cli import main
from semiseg.data.labels import IGNORE_INDEX
from semiseg.data.normalization import BandStats
from semiseg.io.rasters import raster_info
from semiseg.models.filter_bank import DEFAULT_SCALES, context_radius, feature_count, feature_names, filter_features
from semiseg.models.forest import PixelForest, fit_forest
from semiseg.models.package import load_package
from semiseg.train.forest import choose_pixels, labelled_features

FOREST = {"name": "pixel_forest", "trees": 10}


def test_filter_bank_of_a_constant_image_is_constant_per_filter_even_beside_nodata():
    image = torch.full((1, 2, 80, 80), 3.0)
    valid = torch.ones(1, 80, 80, dtype=torch.bool)
    valid[0, 30:50, :20] = False  # a nodata hole reaching the window's edge
    image[0, :, ~valid[0]] = 0.0  # what a network sees there: zeros
    features = filter_features(image, valid)[0]
    assert features.shape[0] == feature_count(2, DEFAULT_SCALES) == len(feature_names(2, DEFAULT_SCALES))
    inside = features[:, valid[0]]
    spread = inside.max(1).values - inside.min(1).values
    assert float(spread.max()) < 1e-4  # the hole left no edge in any filter
    names = feature_names(2, DEFAULT_SCALES)
    for name, values in zip(names, inside):
        kind = name.split(":")[1].split("@")[0]
        expected = 3.0 if kind in ("pixel", "gaussian") else 0.0  # every derivative of a constant is 0
        assert abs(float(values.mean()) - expected) < 1e-4, name


def test_filter_bank_sees_an_edge_at_every_scale_and_only_near_it():
    image = torch.zeros(1, 1, 64, 64)
    image[..., 32:] = 1.0  # a vertical step edge
    features = filter_features(image, torch.ones(1, 64, 64, dtype=torch.bool), (1.0, 3.5))[0]
    names = feature_names(1, (1.0, 3.5))
    gradient = {n: f for n, f in zip(names, features) if ":gradient@" in n}
    for name, g in gradient.items():
        sigma = float(name.split("@")[1])
        far = g[:, : 32 - 3 * int(np.ceil(sigma)) - 1]
        assert float(g[:, 31:33].mean()) > 0.05 and float(far.abs().max()) < 1e-5, name
    assert context_radius((1.0, 3.5)) == 11


def test_forest_learns_only_from_labelled_valid_pixels(tmp_path):
    image, truth = two_class_scene(64, 64)
    labels = sparse_labels(truth, every=5)
    image[:, 0:5, 0:5] = 0
    path = write_raster(tmp_path / "a.tif", image, nodata=0)  # the top-left corner is nodata, and labelled
    info = raster_info(path)
    chosen = choose_pixels([labels], 2, max_pixels=10**6, class_balanced=True, seed=0)
    assert np.array_equal(chosen[0], labels != IGNORE_INDEX)  # under the cap every labelled pixel is chosen
    features, y = labelled_features([info], [labels], chosen, [1, 2, 3], BandStats([0.0] * 3, [1.0] * 3), (1.0,))
    nodata = np.zeros_like(labels, bool)
    nodata[0:5, 0:5] = True
    expected = labels[(labels != IGNORE_INDEX) & ~nodata]
    assert features.shape == (len(expected), feature_count(3, (1.0,)))
    assert np.array_equal(np.sort(y), np.sort(expected))


def test_pixel_choice_keeps_to_the_cap_per_class():
    labels = np.full((200, 200), IGNORE_INDEX, np.uint8)
    labels[:100] = 0  # 20000 pixels of class 0
    labels[150:152] = 1  # 400 of class 1
    chosen = choose_pixels([labels], 2, max_pixels=2000, class_balanced=True, seed=0)[0]
    assert chosen[labels == 1].all()  # the rare class keeps every pixel
    assert 800 < chosen[labels == 0].sum() < 1200  # the common one about its share of the cap
    assert not chosen[labels == IGNORE_INDEX].any()


def test_forest_arrays_reproduce_scikit_learn_exactly_and_keep_absent_classes_at_zero():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 6)).astype(np.float32)
    y = np.where(x[:, 0] + 0.3 * rng.normal(size=3000) > 0, 2, 0)  # class 1 never labelled
    forest = fit_forest(x, y, 3, trees=12, seed=4)
    reference = RandomForestClassifier(12, max_features="sqrt", random_state=4).fit(x, y)
    probs = PixelForest.from_state(dict(forest.state_dict())).class_probabilities(x[:500])
    np.testing.assert_allclose(probs[:, [0, 2]], reference.predict_proba(x[:500]), atol=1e-6)
    assert np.all(probs[:, 1] == 0)


def test_pixel_forest_job_predicts_a_georeferenced_map_and_its_package_holds_arrays_only(scene_job, tmp_path):
    spec = json.loads((scene_job / "job.json").read_text())
    write_job(scene_job, method=FOREST, train={**spec["train"]})
    assert main(["train", str(scene_job), "--quiet"]) == 0
    with rasterio.open(scene_job / "outputs" / "a_classes.tif") as out, rasterio.open(scene_job / "a.tif") as src:
        assert (out.crs, out.transform, out.width, out.height) == (src.crs, src.transform, src.width, src.height)
        classes = out.read(1)
    _, truth = two_class_scene()
    assert (classes == truth).mean() > 0.97
    card = json.loads((scene_job / "model" / "model.json").read_text())
    assert card["arch"] == "pixel_forest" and card["class_names"] == [c["name"] for c in CLASSES]
    tensors = load_file(str(scene_job / "model" / "model.safetensors"))
    assert {"left", "right", "feature", "threshold", "leaf_probs", "scales", "tree_sizes"} <= set(tensors)
    progress = [e for e in events_of(scene_job) if e["type"] == "progress" and e.get("unit") != "window"]
    assert progress[-1]["step"] == progress[-1]["total"] == 10
    assert next(e for e in events_of(scene_job) if e["type"] == "start")["unit"] == "tree"
    _, model = load_package(scene_job / "model")
    assert isinstance(model, PixelForest)

    # The same package through `semiseg predict` gives the same map.
    assert main(["predict", str(scene_job / "model"), str(scene_job / "a.tif"), "--out", str(tmp_path / "maps")]) == 0
    with rasterio.open(tmp_path / "maps" / "a_classes.tif") as again:
        assert np.array_equal(again.read(1), classes)


@pytest.mark.parametrize("model", [{"arch": "unet"}, {"encoder": "resnet34"}, {"init_from": "elsewhere"}])
def test_pixel_forest_refuses_network_settings(scene_job, capsys, model):
    write_job(scene_job, method=FOREST, model=model)
    assert main(["validate", str(scene_job)]) == 2
    field = next(iter(model))
    assert f"model.{field}: pixel_forest trains no network" in capsys.readouterr().err
