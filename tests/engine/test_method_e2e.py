"""Every method and its main options through the real CLI on a tiny generated scene."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from method_helpers import one_thread, write_job  # noqa: F401 (autouse fixture)
from semiseg.cli import main

RUNS = [
    ({"name": "aux", "task": "rec_l1", "split": "late"}, 3, "unet"),
    ({"name": "aux", "task": "rec_l2", "split": "early"}, 3, "unet"),
    ({"name": "aux", "task": "kmeans", "clusters": 4}, 3, "fpn"),
    ({"name": "aux", "task": "mumford_shah", "split": "early"}, 1, "unet"),
    ({"name": "aux", "task": "inpainting"}, 3, "unet"),
    ({"name": "aux", "task": "jigsaw", "permutations": 10}, 3, "unet"),
    ({"name": "s6"}, 3, "deeplabv3plus"),
    ({"name": "s6", "weight": 0.5}, 4, "unet"),
    ({"name": "cct", "background": ["water"], "decoders": {k: 1 for k in ("vat", "dropout", "cutout", "context_mask", "object_mask", "feature_drop", "feature_noise")}}, 3, "unet"),
    ({"name": "cct", "distance": "kl", "abce": True, "confidence": None, "decoders": {"vat": 0, "cutout": 0}}, 3, "deeplabv3plus"),
    ({"name": "cct", "distance": "js", "decoders": {"vat": 0, "feature_drop": 2}}, 1, "unet"),
    ({"name": "mean_teacher"}, 3, "unet"),
    ({"name": "mean_teacher", "teacher": "simple", "alpha": 0.5, "batchnorm": "separate"}, 1, "unet"),
    ({"name": "mean_teacher", "predict_with": "student", "confidence": None, "cutmix": 0.5}, 5, "deeplabv3plus"),
]


def _assert_within(expected: dict, actual: dict) -> None:
    for key, value in expected.items():
        if isinstance(value, dict):
            _assert_within(value, actual[key])
        else:
            assert actual[key] == value, key


@pytest.mark.parametrize("method,bands,arch", RUNS, ids=[f"{m['name']}-{i}" for i, (m, _, _) in enumerate(RUNS)])
def test_method_trains_exports_and_predicts_through_the_cli(tmp_path, method, bands, arch, batches):
    job = write_job(tmp_path / "job", method, bands=bands, arch=arch)
    assert main(["train", str(job), "--quiet"]) == 0
    _assert_within({k: v for k, v in method.items() if k != "name"}, batches[0][0])  # job.json's parameters reach the method
    card = json.loads((job / "model" / "model.json").read_text())
    assert card["method"]["name"] == method["name"] and card["arch"] == arch
    assert (job / "model" / "model.safetensors").is_file()
    metrics = json.loads((job / "metrics.json").read_text())
    assert "miou" in metrics["validation"]
    # The exported package, rebuilt from model.json alone, predicts exactly the map of the job.
    assert main(["predict", str(job / "model"), str(job / "scene.tif"), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    with rasterio.open(job / "outputs" / "scene_classes.tif") as trained, rasterio.open(tmp_path / "again" / "scene_classes.tif") as rebuilt:
        np.testing.assert_array_equal(trained.read(1), rebuilt.read(1))
    events = [json.loads(line) for line in (job / "events.jsonl").read_text().splitlines()]
    progress = [e for e in events if e["type"] == "progress" and e.get("unit") != "window"]  # training steps, not the maps' windows
    assert progress and set(progress[-1]["parts"]) >= {"sup"}


@pytest.mark.parametrize("method", ["aux", "s6", "cct", "mean_teacher"])
def test_methods_train_on_several_unlabeled_windows_per_labelled_one(tmp_path, method, batches):
    job = write_job(tmp_path / "job", {"name": method}, steps=2, unlabeled_per_labeled=3)
    assert main(["train", str(job), "--quiet"]) == 0
    assert [(len(b["labeled"]["image"]) * 3, len(b["unlabeled"]["image"])) for _, b in batches] == [(6, 6), (6, 6)]
    parts = [e for e in map(json.loads, (job / "events.jsonl").read_text().splitlines()) if e["type"] == "progress" and "parts" in e][-1]["parts"]
    assert len(parts) > 1  # an unsupervised term beside "sup"


def test_a_mean_teacher_package_keeps_its_student_for_the_suggestions(tmp_path):
    """The exported teacher's student travels in the package (student.safetensors), so a
    prediction from the package weighs their disagreement exactly as the job's own did."""
    import shutil

    import geopandas as gpd
    import torch

    from semiseg.models.package import load_package, load_second_opinion
    from semiseg.models.second_opinion import network_of

    job = write_job(tmp_path / "job", {"name": "mean_teacher"}, steps=3)
    assert main(["train", str(job), "--quiet"]) == 0
    card, model = load_package(job / "model")
    second = load_second_opinion(job / "model", card, model)
    assert type(second) is type(model) and network_of(second) is not network_of(model)
    teacher, student = network_of(model).state_dict(), network_of(second).state_dict()
    assert teacher.keys() == student.keys() and any(not torch.equal(teacher[k], student[k]) for k in teacher)  # the teacher lags
    assert main(["predict", str(job / "model"), str(job / "scene.tif"), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    ours, again = (gpd.read_file(folder / "scene_suggestions.gpkg") for folder in (job / "outputs", tmp_path / "again"))
    assert len(ours) and list(ours["score"]) == list(again["score"]) and ours.geometry.equals(again.geometry)
    shutil.copytree(job / "model", tmp_path / "teacher")
    (tmp_path / "teacher" / "student.safetensors").unlink()
    assert main(["predict", str(tmp_path / "teacher"), str(job / "scene.tif"), "--out", str(tmp_path / "alone"), "--quiet"]) == 0
    assert list(gpd.read_file(tmp_path / "alone" / "scene_suggestions.gpkg")["score"]) != list(ours["score"])  # the disagreement counted
    alone = write_job(tmp_path / "student", {"name": "mean_teacher", "predict_with": "student"}, steps=1)
    assert main(["train", str(alone), "--quiet"]) == 0
    assert not (alone / "model" / "student.safetensors").exists()  # the student is the model: no second opinion
