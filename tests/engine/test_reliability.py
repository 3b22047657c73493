"""Reliability, second pass (issue 42): a full disk, a raster too large to read whole, a job.json
nested too deep, a negative seed, two classes of one name, Ctrl-C while the pixel forest is
exported. Each is one line naming the file or field, exit 2, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CLASSES, write_job
from semiseg.jobs.events import read_events
from semiseg.cli import main
from test_spec_and_validation import _run_invalid


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("semiseg: error:"), err
    return lines[0]


def test_a_job_json_nested_too_deep_is_bad_input_for_train_and_validate(scene_job, capsys):
    spec = scene_job / "job.json"
    spec.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    before = spec.read_bytes()
    (line,) = _run_invalid(scene_job, capsys)
    assert str(spec) in line and "nested too deep" in line, line
    assert main(["validate", str(scene_job)]) == 2
    line = _one_error_line(capsys)
    assert str(spec) in line and "nested too deep" in line, line
    assert spec.read_bytes() == before


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_out_of_range_is_a_field_error(scene_job, capsys, seed):
    write_job(scene_job, train={"seed": seed})
    (line,) = _run_invalid(scene_job, capsys)
    assert "train.seed" in line and "internal error" not in line, line


def test_two_classes_of_one_name_are_refused_naming_both_ids(scene_job, capsys):
    write_job(scene_job, classes=[CLASSES[0], {**CLASSES[1], "name": "dark"}])
    (line,) = _run_invalid(scene_job, capsys)
    assert "classes" in line and "0 and 1" in line and "'dark'" in line, line
    assert main(["validate", str(scene_job)]) == 2
    assert "0 and 1" in _one_error_line(capsys)


def _ctrl_c_after(monkeypatch, module, name: str) -> None:
    """Ctrl-C arrives while `module.name` writes (the engine's handler notes it; the OS's would have killed the write)."""
    import os
    import signal

    original = getattr(module, name)

    def interrupted(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(module, name, interrupted)


def _same_files(a: Path, b: Path, names: list[str]) -> None:  # the fingerprint names the job's folder: not compared
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("method", [{}, {"name": "pixel_forest"}])  # the default gates its network against a forest
def test_ctrl_c_while_the_pixel_forest_is_exported_leaves_only_what_resume_needs(scene_job, tmp_path_factory, monkeypatch, method):
    import shutil

    import semiseg.pipeline.export as export
    import semiseg.pipeline.forest_maps as forest_maps

    overrides = {"method": method} if method else {}
    write_job(scene_job, train={"steps": 4, "checkpoint_every": 100}, **overrides)
    twin = tmp_path_factory.mktemp("twin")
    shutil.copytree(scene_job, twin, dirs_exist_ok=True)
    assert main(["train", str(twin), "--quiet"]) == 0

    _ctrl_c_after(monkeypatch, forest_maps if not method else export, "save_package")
    assert main(["train", str(scene_job), "--quiet"]) == 130
    monkeypatch.undo()
    leftovers = sorted(str(p.relative_to(scene_job)) for p in scene_job.rglob("*") if p.is_file())
    assert not (scene_job / "model").exists() and not (scene_job / "outputs").exists(), leftovers
    assert not [p for p in leftovers if "partial" in p], leftovers
    # What may stay is what --resume needs: the default method's forest, fitted before training
    # (no checkpoint yet); a pixel_forest job keeps nothing and fits again.
    assert [p for p in leftovers if "model.json" in p] == ([] if method else ["forest/model/model.json"]), leftovers

    assert main(["train", str(scene_job), "--resume", "--quiet"]) == 0
    _same_files(scene_job / "model", twin / "model", ["model.safetensors"])
    cards = [json.loads((job / "model" / "model.json").read_text()) for job in (scene_job, twin)]
    assert [{k: v for k, v in c.items() if k != "fingerprint"} for c in cards] == [{k: v for k, v in cards[1].items() if k != "fingerprint"}] * 2
    import rasterio
    for name in ("a_classes.tif", "a_confidence.tif"):
        with rasterio.open(scene_job / "outputs" / name) as a, rasterio.open(twin / "outputs" / name) as b:
            assert (a.read() == b.read()).all(), name
    assert [e for e in read_events(scene_job) if e["type"] == "done"][-1]["status"] == "completed"
