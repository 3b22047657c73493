"""Dense pseudo-labels from the pixel forest: what counts, how they move with a warp, and the job that makes them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

from method_helpers import make_batch, make_method, one_thread, step_at, write_job  # noqa: F401 (autouse fixture)
from semiseg.cli import main
from semiseg.data.dataset import PseudoLabelMap, _RasterCache
from semiseg.data.labels import IGNORE_INDEX
from semiseg.train.methods.pseudo import pseudo_label_loss, pseudo_weight
from semiseg.train.methods.tps import random_tps_grid, warp, warp_labels


def test_a_pseudo_label_below_its_confidence_threshold_is_none(tmp_path):
    classes = np.array([[0, 1, 2, 1]], np.uint8)
    confidence = np.array([[0.9, 0.69, 0.7, 1.0]], np.float32)
    profile = dict(driver="GTiff", width=4, height=1, count=1, crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 1, 1, 1))
    with rasterio.open(tmp_path / "c.tif", "w", dtype="uint8", nodata=255, **profile) as ds:
        ds.write(classes[None])
    with rasterio.open(tmp_path / "p.tif", "w", dtype="float32", nodata=-1, **profile) as ds:
        ds.write(confidence[None])
    got = PseudoLabelMap(tmp_path / "c.tif", tmp_path / "p.tif", 0.7).read(_RasterCache(), Window(-1, 0, 6, 1))
    assert got.tolist() == [[IGNORE_INDEX, 0, IGNORE_INDEX, 2, 1, IGNORE_INDEX]]  # outside the raster: none either


def test_pixels_without_a_pseudo_label_or_with_a_scribble_contribute_nothing():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    pseudo = torch.full((1, 4, 4), IGNORE_INDEX)
    pseudo[0, 0, :2] = 1
    scribbles = torch.full((1, 4, 4), IGNORE_INDEX)
    scribbles[0, 0, 1] = 2  # a scribble overrides the forest there: the supervised term has it
    pseudo_label_loss(logits, pseudo, scribbles).backward()
    touched = logits.grad.abs().sum(1)[0] > 0
    assert touched.nonzero().tolist() == [[0, 0]]
    empty = torch.full((1, 4, 4), IGNORE_INDEX)
    assert float(pseudo_label_loss(logits, empty).detach()) == 0.0


def test_pseudo_weight_falls_from_its_value_to_zero():
    assert pseudo_weight(0.0, 2.0) == 2.0 and abs(pseudo_weight(0.5, 2.0) - 1.0) < 1e-12 and pseudo_weight(1.0, 2.0) < 1e-12
    assert all(pseudo_weight(a / 10, 1.0) >= pseudo_weight((a + 1) / 10, 1.0) for a in range(10))


def test_warped_pseudo_labels_keep_a_class_only_where_the_warp_agrees_on_it():
    labels = torch.full((2, 32, 32), IGNORE_INDEX)
    labels[:, :, :16] = 0
    labels[:, :, 16:24] = 1
    grid = random_tps_grid(2, 32, 32, torch.Generator().manual_seed(0), 0.1)
    warped = warp_labels(labels, grid, 2)
    identity = random_tps_grid(2, 32, 32, torch.Generator().manual_seed(0), 0.0)
    assert torch.equal(warp_labels(labels, identity, 2), labels)
    assert set(warped.unique().tolist()) <= {0, 1, IGNORE_INDEX} and (warped != IGNORE_INDEX).sum() > 0
    assert not torch.equal(warped, labels)
    for k in (0, 1):  # a pixel takes class k only where every source pixel of its bilinear sample is k
        indicator = warp((labels == k).float()[:, None], grid)[:, 0]
        assert bool((indicator[warped == k] >= 1 - 1e-6).all()) and bool(((indicator >= 1 - 1e-6) <= (warped == k)).all())


@pytest.mark.parametrize("name", ["supervised", "mean_teacher"])
def test_the_pseudo_term_joins_the_loss_only_when_windows_carry_pseudo_labels(name):
    method = make_method(name, {"pseudo_labels": "pixel_forest", "warmup": 0.0} if name == "mean_teacher" else {"pseudo_labels": "pixel_forest"})
    batch = make_batch()
    _, parts = method.training_loss(batch, step_at(10))
    assert "pseudo" not in parts
    for part in ("labeled", "unlabeled"):
        batch[part]["pseudo"] = torch.randint(0, 3, batch[part]["valid"].shape)
    _, parts = method.training_loss(batch, step_at(10))
    assert parts["pseudo"] > 0 and parts["pseudo_w"] == pytest.approx(pseudo_weight(0.1, 1.0))


def test_mean_teacher_with_pseudo_labels_needs_joint_batchnorm(tmp_path, capsys):
    write_job(tmp_path / "job", {"name": "mean_teacher", "pseudo_labels": "pixel_forest", "batchnorm": "separate"})
    assert main(["validate", str(tmp_path / "job")]) == 2
    assert "method.pseudo_labels: needs batchnorm 'joint'" in capsys.readouterr().err


def test_a_job_with_forest_pseudo_labels_maps_every_raster_and_trains_on_them(tmp_path, batches):
    job = write_job(tmp_path / "job", {"name": "mean_teacher", "pseudo_labels": "pixel_forest", "warmup": 0.0}, steps=3)
    assert main(["train", str(job), "--quiet"]) == 0
    with rasterio.open(job / "forest" / "scene_classes.tif") as forest_map, rasterio.open(job / "scene.tif") as src:
        assert (forest_map.transform, forest_map.crs, forest_map.shape) == (src.transform, src.crs, src.shape)
    assert batches and all("pseudo" in b["labeled"] and "pseudo" in b["unlabeled"] for _, b in batches)
    phases = [e.get("phase") for e in map(json.loads, (job / "events.jsonl").read_text().splitlines())]
    assert "pseudo" in phases


def test_a_blended_model_averages_the_two_probabilities_and_travels_as_one_package(tmp_path, capsys):
    from safetensors.torch import load_file

    from semiseg.models.blend import ForestBlend
    from semiseg.models.package import load_package

    job = write_job(tmp_path / "job", {"name": "supervised", "pseudo_labels": "pixel_forest", "forest_blend": 0.25}, steps=3)
    assert main(["train", str(job), "--quiet"]) == 0
    card, model = load_package(job / "model")
    assert isinstance(model, ForestBlend) and card.forest_blend == 0.25
    from semiseg.train.forest import FOREST_TILE
    assert card.tile_size == FOREST_TILE  # the forest inside needs room for its filters at every window edge
    tensors = load_file(str(job / "model" / "model.safetensors"))
    assert tensors["forest.threshold"].dtype == torch.float64  # exported without rounding the splits
    assert all(k.startswith(("network.", "forest.")) for k in tensors)
    images, valid = torch.randn(1, 3, 64, 64), torch.ones(1, 64, 64, dtype=torch.bool)
    with torch.no_grad():
        expected = 0.75 * model.network(images).softmax(1) + 0.25 * model.forest(images, valid).exp()
        assert torch.allclose(model(images, valid).exp(), expected, atol=1e-5)
    with rasterio.open(job / "outputs" / "scene_classes.tif") as trained:
        classes = trained.read(1)
    assert main(["predict", str(job / "model"), str(job / "scene.tif"), "--out", str(tmp_path / "maps"), "--quiet"]) == 0
    with rasterio.open(tmp_path / "maps" / "scene_classes.tif") as again:
        assert np.array_equal(again.read(1), classes)
    # To ONNX (Deepness), a blend exports its network alone, and says so in one line.
    import onnx

    assert main(["export", str(job / "model"), "--onnx", str(tmp_path / "blend.onnx")]) == 0
    note = capsys.readouterr().err.strip()
    assert "the ONNX file holds the network alone" in note and len(note.splitlines()) == 1
    if card.metrics.get("miou") is not None:  # held-out blocks scored: both maps' scores are said
        assert f"the network alone {card.metrics['network_alone']['miou']:.3f}" in note
    meta = {m.key: m.value for m in onnx.load(str(tmp_path / "blend.onnx")).metadata_props}
    assert json.loads(meta["semiseg_model"])["forest_blend"] == 0.0
    # Training again from a blended package starts from its network.
    again_job = write_job(tmp_path / "again", {"name": "supervised"}, steps=2)
    spec = json.loads((again_job / "job.json").read_text())
    spec["model"] = {"init_from": str(job / "model")}
    (again_job / "job.json").write_text(json.dumps(spec))
    assert main(["train", str(again_job), "--quiet"]) == 0


def test_blend_on_validation_exports_the_weight_that_scores_best_on_the_held_out_blocks(tmp_path):
    from semiseg.models.blend import choose_blend_weight
    from semiseg.models.package import load_package

    job = write_job(tmp_path / "job", {"name": "supervised", "pseudo_labels": "pixel_forest", "blend_on_validation": True}, steps=2)
    assert main(["train", str(job), "--quiet"]) == 0
    events = [json.loads(line) for line in (job / "events.jsonl").read_text().splitlines()]
    (gate,) = [e for e in events if "validation_miou" in e]  # for clients and benchmarks: every weight's score
    miou = {float(w): v for w, v in gate["validation_miou"].items()}
    assert sorted(miou) == [0.0, 0.25, 0.5, 0.75, 1.0]
    best, rule = choose_blend_weight(miou, gate["validation_pixels"])
    assert gate["blend_rule"] == rule
    card, _ = load_package(job / "model")
    assert card.forest_blend == gate["forest_blend"] == best > 0, gate  # two steps teach the network little: the forest's map is kept
    validation = json.loads((job / "metrics.json").read_text())["validation"]
    assert validation["miou"] == pytest.approx(miou[best], abs=5e-4)  # the scores that go with the model are the blend's
    # ... and its network's own, what an ONNX export (the network alone) maps like (issue 41, item 3)
    assert card.metrics["network_alone"]["miou"] == validation["network_alone"]["miou"] == pytest.approx(miou[0.0], abs=5e-4)


def test_a_gate_without_pseudo_labels_fits_the_forest_but_maps_no_raster_before_training(tmp_path):
    """Blending only needs the fitted forest: the maps of every raster (minutes on a large job) are
    made for pseudo-labels and context alone."""
    from semiseg.models.blend import ForestBlend
    from semiseg.models.package import load_package

    job = write_job(tmp_path / "job", {"name": "mean_teacher", "blend_on_validation": True}, steps=2)
    assert main(["train", str(job), "--quiet"]) == 0
    forest_dir = job / "forest"
    assert (forest_dir / "model" / "model.json").is_file()
    assert sorted(p.name for p in forest_dir.iterdir()) == ["model"]  # no *_classes.tif / *_confidence.tif maps
    events = [json.loads(line) for line in (job / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if "forest map of" in e.get("message", "")]
    assert [e for e in events if "blend_rule" in e]
    card, model = load_package(job / "model")
    assert isinstance(model, ForestBlend) == (card.forest_blend > 0)
