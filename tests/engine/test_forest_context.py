"""forest_context: a network that reads the pixel forest's probabilities (auto-context).

What a user relies on: the labelled pixels' context comes from forests that never saw them (or
the network learns to copy the forest), the context channels stay aligned with the bands
through every augmentation and untouched by photometric jitter, and the exported model
predicts with the forest inside, like any other package.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin
from rasterio.windows import Window

from method_helpers import make_method, step_at, write_job  # noqa: F401 (autouse fixture)
from semiseg.cli import main
from semiseg.data.dataset import TrainingWindows, WindowSource
from semiseg.data.labels import IGNORE_INDEX
from semiseg.data.normalization import BandStats
from semiseg.data.sampling import LabeledPixelIndex
from semiseg.io.rasters import raster_info
from semiseg.train.forest import ForestData, train_pixel_forest
from semiseg.train.forest_folds import FOLD_BLOCK, block_folds, write_out_of_fold
from semiseg.train.methods.pixel_forest import PixelForestParams

PROFILE = dict(driver="GTiff", crs="EPSG:32633", transform=from_origin(500000, 5000000, 1, 1))


def _write(path, data: np.ndarray, dtype: str, nodata=None):
    with rasterio.open(path, "w", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=dtype, nodata=nodata, **PROFILE) as ds:
        ds.write(data.astype(dtype))
    return path


def test_block_folds_deal_every_block_and_split_them_evenly():
    maps = [np.zeros((200, 130), np.uint8), np.zeros((64, 64), np.uint8)]
    folds = block_folds(maps, seed=3)
    assert [f.shape for f in folds] == [(4, 3), (1, 1)]
    counts = np.bincount(np.concatenate([f.ravel() for f in folds]))
    assert abs(int(counts[0]) - int(counts[1])) <= 1


def test_labelled_pixels_get_probabilities_of_a_forest_that_never_saw_their_block(tmp_path):
    """Labels drawn at random on noise can only be memorised: the forest fitted on them is sure of
    them at its own pixels, a forest fitted without their block is at chance there."""
    rng = np.random.default_rng(0)
    size = 4 * FOLD_BLOCK
    image = rng.normal(100, 20, size=(1, size, size))
    labels = np.full((size, size), IGNORE_INDEX, np.uint8)
    picked = rng.random((size, size)) < 0.05
    labels[picked] = rng.integers(0, 2, picked.sum())
    raster = _write(tmp_path / "noise.tif", image, "float32")
    info = raster_info(raster)
    stats = BandStats([100.0], [20.0])
    params = PixelForestParams(trees=30)
    probs_path = _write(tmp_path / "probs.tif", np.zeros((2, size, size)), "uint8")

    data = ForestData([info], [labels], [1], stats, 2, params, False, 0)
    forest, _ = train_pixel_forest(data)
    with rasterio.open(raster) as ds:
        x = torch.from_numpy(stats.apply(ds.read().astype(np.float32)))[None]
    in_bag = forest(x).exp()[0].numpy()
    write_out_of_fold(data, [probs_path], lambda: None)
    with rasterio.open(probs_path) as ds:
        out_of_fold = ds.read().astype(np.float64) / 255

    rows, cols = np.nonzero(labels != IGNORE_INDEX)
    truth = labels[rows, cols]
    p_in_bag = in_bag[truth, rows, cols].mean()
    p_out_of_fold = out_of_fold[truth, rows, cols].mean()
    assert p_in_bag > 0.7, p_in_bag  # memorised
    assert abs(p_out_of_fold - 0.5) < 0.05, p_out_of_fold  # no forest saw them: chance
    assert (out_of_fold[:, labels == IGNORE_INDEX] == 0).all()  # only labelled pixels are written
    np.testing.assert_allclose(out_of_fold[:, rows, cols].sum(0), 1, atol=2 / 255)


def test_context_channels_follow_the_bands_through_every_flip_and_rotation(tmp_path):
    size = 64
    yy, xx = np.mgrid[0:size, 0:size]
    band = (yy * 3 + xx) % 251  # no symmetry: a misaligned channel shows
    raster = _write(tmp_path / "scene.tif", band[None].astype(np.float64), "float32")
    # The context raster's class-0 band repeats the band's values, class 1 their complement.
    context = _write(tmp_path / "scene_probabilities.tif", np.stack([band, 255 - band]), "uint8")
    labels = np.full((size, size), IGNORE_INDEX, np.uint8)
    labels[10:50, 10:50] = 0
    info = raster_info(raster)
    stats = BandStats([100.0], [50.0])
    source = WindowSource([info], [labels], [info], [1], stats, 32, context={str(raster): context})
    windows = TrainingWindows(source, LabeledPixelIndex([labels], 2, 0, False), seed=0, length=16, unlabeled_count=2)
    for i in range(16):
        sample = windows[i]
        for part in (sample["labeled"]["image"][None], sample["unlabeled"]["image"]):
            assert part.shape[1] == 3  # the band, then one channel per class
            bands = part[:, 0].numpy() * 50 + 100
            valid = bands != 100  # outside the raster the band reads 0, normalized to -2: never 100 here
            np.testing.assert_allclose(part[:, 1].numpy()[valid] * 255, bands[valid], atol=1e-3)
            np.testing.assert_allclose(part[:, 2].numpy()[valid] * 255, 255 - bands[valid], atol=1e-3)


def test_mean_teachers_jitter_leaves_the_context_channels_as_they_are():
    from dataclasses import replace

    method = make_method("mean_teacher", {"forest_context": True}, in_channels=6)
    method.ctx = replace(method.ctx, context_channels=3)
    image = torch.rand(2, 6, 32, 32)
    valid = torch.ones(2, 32, 32, dtype=torch.bool)
    out = method.jitter(image, valid, step_at(5).generator)
    assert torch.equal(out[:, 3:], image[:, 3:])
    assert not torch.allclose(out[:, :3], image[:, :3])


def test_a_job_with_forest_context_exports_a_network_reading_the_forest_and_predicts_with_it(tmp_path, batches):
    from safetensors.torch import load_file

    from semiseg.models.context import ForestContext
    from semiseg.models.package import load_package

    job = write_job(tmp_path / "job", {"name": "supervised", "forest_context": True}, steps=3)
    assert main(["train", str(job), "--quiet"]) == 0
    assert batches and all(b["labeled"]["image"].shape[1] == 3 + 3 and "pseudo" not in b["labeled"] for _, b in batches)
    assert (job / "forest" / "out_of_fold.done").is_file()
    with rasterio.open(job / "forest" / "scene_probabilities.tif") as probs, rasterio.open(job / "scene.tif") as src:
        assert (probs.count, probs.transform, probs.crs, probs.shape) == (3, src.transform, src.crs, src.shape)

    card, model = load_package(job / "model")
    assert isinstance(model, ForestContext) and card.forest_context and card.in_channels == 3
    assert card.tile_size >= 512  # the forest inside needs room at every window edge
    assert all(k.startswith(("network.", "forest.")) for k in load_file(str(job / "model" / "model.safetensors")))
    images, valid = torch.randn(1, 3, 64, 64), torch.ones(1, 64, 64, dtype=torch.bool)
    valid[0, :8] = False
    with torch.no_grad():
        context = model.forest(images, valid).exp() * valid[:, None]
        expected = model.network(torch.cat([images, context], 1))
        assert torch.allclose(model(images, valid), expected, atol=1e-5)

    with rasterio.open(job / "outputs" / "scene_classes.tif") as trained:
        classes = trained.read(1)
    assert main(["predict", str(job / "model"), str(job / "scene.tif"), "--out", str(tmp_path / "maps"), "--quiet"]) == 0
    with rasterio.open(tmp_path / "maps" / "scene_classes.tif") as again:
        assert np.array_equal(again.read(1), classes)
    # Training again from it starts from its network (whose input has the context channels).
    again_job = write_job(tmp_path / "again", {"name": "supervised", "forest_context": True}, steps=2)
    spec = json.loads((again_job / "job.json").read_text())
    spec["model"] = {"init_from": str(job / "model")}
    (again_job / "job.json").write_text(json.dumps(spec))
    assert main(["train", str(again_job), "--quiet"]) == 0


@pytest.mark.parametrize("other", [{"forest_blend": 0.5, "pseudo_labels": "pixel_forest"}, {"blend_on_validation": True, "pseudo_labels": "pixel_forest"}])
def test_forest_context_and_a_blend_are_one_clear_error(tmp_path, capsys, other):
    write_job(tmp_path / "job", {"name": "supervised", "forest_context": True, **other})
    assert main(["validate", str(tmp_path / "job")]) == 2
    assert "not with forest_context" in capsys.readouterr().err


def test_the_window_reader_reads_a_probabilities_raster_as_fractions(tmp_path):
    from semiseg.data.dataset import read_context

    path = _write(tmp_path / "p.tif", np.array([[[0, 255]], [[255, 0]]]), "uint8")
    with rasterio.open(path) as ds:
        got = read_context(ds, Window(-1, 0, 3, 1), np.array([[False, True, True]]))
    assert got.tolist() == [[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]]
