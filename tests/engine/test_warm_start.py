"""Training again from an earlier model (job.json model.init_from): the loop of correcting labels
where the model is unsure and training again starts where the last model stopped."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from conftest import CLASSES, write_job
from semiseg.cli import main
from semiseg.train.methods import METHODS, build_method
from semiseg.train.methods.base import DomainInfo, MethodContext
from semiseg.models.network import build_network


def _parameters(model_dir):
    """The learned weights of a package (BatchNorm running statistics move with any step)."""
    return {k: v for k, v in load_file(model_dir / "model.safetensors").items() if "running_" not in k and "num_batches" not in k}


@pytest.fixture
def first_model(scene_job, tmp_path):
    """A job trained once; returns its model folder."""
    assert main(["train", str(scene_job), "--quiet"]) == 0
    return scene_job / "model"


def _second_job(scene_job, tmp_path, name, **overrides):
    """Another job on the same raster and labels: one step with a vanishing learning rate, so its
    exported weights are where training started."""
    job = tmp_path / name
    job.mkdir()
    for f in ("a.tif", "a_labels.tif"):
        shutil.copy(scene_job / f, job / f)
    return write_job(job, train={"steps": 1, "lr": 1e-12}, predict=[], **overrides)


def test_training_starts_from_the_earlier_models_weights_and_normalization(scene_job, tmp_path, first_model):
    again = _second_job(scene_job, tmp_path, "again", model={"init_from": str(first_model)})
    scratch = _second_job(scene_job, tmp_path, "scratch")
    assert main(["train", str(again), "--quiet"]) == 0 and main(["train", str(scratch), "--quiet"]) == 0
    before, after, fresh = _parameters(first_model), _parameters(again / "model"), _parameters(scratch / "model")
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    assert not all(torch.allclose(before[k], fresh[k], atol=1e-6) for k in before)  # the control: from scratch differs
    old, new = (json.loads((d / "model.json").read_text()) for d in (first_model, again / "model"))
    assert (new["mean"], new["std"]) == (old["mean"], old["std"])  # the weights expect the old normalization


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if m.trains_network and not m.needs_domains])
def test_every_method_exports_the_weights_it_started_from(name):
    torch.manual_seed(0)
    ctx = MethodContext((DomainInfo("default", ["dark", "bright"], 3),), 10, lambda c, k: build_network("unet", "resnet18", c, k))
    method = build_method(name, {}, ctx)
    weights = {k: v + 1.0 if v.is_floating_point() else v for k, v in build_network("unet", "resnet18", 3, 2).state_dict().items()}
    method.start_from(weights)
    exported = method.inference_network().state_dict()
    assert exported.keys() == weights.keys() and all(torch.equal(exported[k], weights[k]) for k in weights)


def test_mean_teacher_starts_student_and_teacher_from_the_model():
    torch.manual_seed(0)
    ctx = MethodContext((DomainInfo("default", ["dark", "bright"], 3),), 10, lambda c, k: build_network("unet", "resnet18", c, k))
    method = build_method("mean_teacher", {}, ctx)
    weights = {k: v + 1.0 if v.is_floating_point() else v for k, v in method.student.state_dict().items()}
    method.start_from(weights)
    for net in (method.student, method.teacher):
        assert all(torch.equal(v, weights[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize("model, message", [
    ({"init_from": "nowhere"}, "nowhere/model.json: file not found"),
    ({"init_from": "FIRST", "arch": "fpn"}, "its network is unet/resnet18, the job's fpn/resnet18"),
])
def test_a_starting_model_that_cannot_fit_is_refused_in_one_line(scene_job, tmp_path, first_model, capsys, model, message):
    model = {k: str(first_model) if v == "FIRST" else v for k, v in model.items()}
    job = _second_job(scene_job, tmp_path, "bad", model=model)
    capsys.readouterr()
    assert main(["validate", str(job)]) == 2
    err = capsys.readouterr().err
    assert "model.init_from" in err and message in err and "Traceback" not in err


def test_a_damaged_starting_model_is_a_user_error_found_at_validation(scene_job, tmp_path, first_model, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(first_model, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])  # a copy cut short
    job = _second_job(scene_job, tmp_path, "damaged", model={"init_from": str(broken)})
    capsys.readouterr()
    assert main(["validate", str(job)]) == 2
    err = capsys.readouterr().err
    assert "model.init_from" in err and "model.safetensors: cannot be read" in err and "Traceback" not in err


def test_a_starting_model_of_other_classes_is_refused(scene_job, tmp_path, first_model, capsys):
    other = [dict(c, name=c["name"].upper()) for c in CLASSES]
    job = _second_job(scene_job, tmp_path, "other", classes=other, model={"init_from": str(first_model)})
    capsys.readouterr()
    assert main(["validate", str(job)]) == 2
    err = capsys.readouterr().err
    assert "its classes ['dark', 'bright'] differ from the job's ['DARK', 'BRIGHT']" in err


def test_without_model_arch_the_starting_models_network_is_trained(scene_job, tmp_path, first_model):
    # s6's own default is DeepLabV3+; a job that starts from a U-Net model keeps the U-Net.
    job = _second_job(scene_job, tmp_path, "s6", method={"name": "s6"}, model={"init_from": str(first_model)})
    assert main(["train", str(job), "--quiet"]) == 0
    assert json.loads((job / "model" / "model.json").read_text())["arch"] == "unet"


def test_validate_says_which_network_and_starting_model(scene_job, tmp_path, first_model, capsys):
    job = _second_job(scene_job, tmp_path, "shown", method={"name": "s6"}, model={"init_from": str(first_model)})
    capsys.readouterr()
    assert main(["validate", str(job)]) == 0
    assert f"network unet/resnet18, starting from {first_model}" in capsys.readouterr().out
