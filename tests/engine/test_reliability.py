"""Reliability, second pass (issue 42): a full disk, a raster too large to read whole, a job.json
nested too deep, a negative seed, two classes of one name, Ctrl-C while the pixel forest is
exported. Each is one line naming the file or field, exit 2, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CLASSES, write_job
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
