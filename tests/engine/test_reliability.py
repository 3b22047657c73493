"""Reliability, second pass (issue 42): a full disk, a raster too large to read whole, a job.json
nested too deep, a negative seed, two classes of one name, Ctrl-C while the pixel forest is
exported. Bad input is one line naming the file or field, exit 2, nothing half-written and the
inputs unchanged; an interrupted run leaves only what `--resume` needs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import CLASSES, write_job
from semiseg.cli import main
from semiseg.jobs.events import read_events
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


# --- a full disk -------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path_factory):
    """A file system of its own (tmpfs) to fill: root can mount one where the sandbox allows."""
    import subprocess

    where = tmp_path_factory.mktemp("disk")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700m", "tmpfs", str(where)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root where mounting is allowed): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    """Take every free byte of `disk` (as a download or another job would)."""
    import errno

    filler = disk / "filler.bin"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with open(disk / "filler-tail.bin", "wb", buffering=0) as fh:  # the last partial megabyte
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def _free(disk: Path) -> None:
    for name in ("filler.bin", "filler-tail.bin"):
        (disk / name).unlink(missing_ok=True)


def _digests(*paths: Path) -> dict[str, str]:
    import hashlib

    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _no_half_written(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if "partial" in p.name or p.name.startswith(".")], sorted(folder.rglob("*"))
    events = folder / "events.jsonl"
    if events.exists():
        for line in events.read_text().splitlines():
            json.loads(line)  # every event whole


def test_training_onto_a_full_disk_is_one_line_and_resume_finishes_once_space_is_freed(scene_job, small_disk, tmp_path_factory, capsys, monkeypatch):
    import shutil

    import numpy as np
    from safetensors.numpy import load_file

    from semiseg.train.callbacks import BesideItsNameCheckpointIO

    job = small_disk / "job"
    job.mkdir()
    inputs = {"labeled": [{"raster": str(scene_job / "a.tif"), "labels": str(scene_job / "a_labels.tif")}], "predict": [str(scene_job / "a.tif")]}
    write_job(job, method={"name": "supervised"}, train={"steps": 6, "checkpoint_every": 2}, **inputs)
    twin = tmp_path_factory.mktemp("twin")
    shutil.copy(job / "job.json", twin / "job.json")
    assert main(["train", str(twin), "--quiet"]) == 0
    before = _digests(scene_job / "a.tif", scene_job / "a_labels.tif", job / "job.json")

    # Full before anything is written: one line, nothing of the run.
    _fill(small_disk)
    assert main(["train", str(job), "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert str(job) in line and "no space left" in line, line
    _free(small_disk)
    _no_half_written(job)

    # Full in the middle: the first checkpoint is written, then the disk fills up.
    save = BesideItsNameCheckpointIO.save_checkpoint

    def save_then_fill(self, checkpoint, path, storage_options=None):
        save(self, checkpoint, path, storage_options)
        if not (small_disk / "filler.bin").exists():
            _fill(small_disk)

    monkeypatch.setattr(BesideItsNameCheckpointIO, "save_checkpoint", save_then_fill)
    assert main(["train", str(job), "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert str(job) in line and "no space left" in line, line
    assert not (job / "model").exists() and not (job / "outputs").exists()
    _no_half_written(job)

    monkeypatch.undo()
    _free(small_disk)
    assert main(["train", str(job), "--resume", "--quiet"]) == 0, capsys.readouterr().err
    assert [e for e in read_events(job) if e["type"] == "start"][-1]["resumed_from_step"] == 2
    a, b = load_file(job / "model" / "model.safetensors"), load_file(twin / "model" / "model.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert _digests(scene_job / "a.tif", scene_job / "a_labels.tif", job / "job.json") == before
    _no_half_written(job)


def test_predicting_onto_a_full_disk_is_one_line_naming_the_folder(scene_job, small_disk, capsys):
    write_job(scene_job, method={"name": "supervised"}, train={"steps": 2}, predict=[])
    assert main(["train", str(scene_job), "--quiet"]) == 0
    out = small_disk / "maps"
    before = _digests(scene_job / "a.tif")
    _fill(small_disk)
    for events in ([], ["--events"]):
        assert main(["predict", str(scene_job / "model"), str(scene_job / "a.tif"), "--out", str(out), "--quiet", *events]) == 2
        line = _one_error_line(capsys)
        assert str(out) in line and "no space left" in line, line
        assert not list(out.glob("*.tif")) and not list(out.glob("*.gpkg"))
        _no_half_written(out)
    assert _digests(scene_job / "a.tif") == before
    _free(small_disk)
    assert main(["predict", str(scene_job / "model"), str(scene_job / "a.tif"), "--out", str(out), "--quiet"]) == 0


def test_an_event_the_disk_has_no_room_for_ends_the_run_in_one_line_and_resume_finishes(scene_job, capsys, monkeypatch):
    """events.jsonl is appended to at every step: a full disk refuses it first, before any checkpoint."""
    import errno
    import os

    import semiseg.jobs.events as events

    write_job(scene_job, method={"name": "supervised"}, train={"steps": 6, "checkpoint_every": 2}, predict=[])

    class DiskFullAtStep3:  # the os module as events.py sees it: the disk fills part-way through step 3's line
        def __getattr__(self, name):
            return getattr(os, name)

        def write(self, fd, data):
            if b'"step": 3' in bytes(data) or b"step=3 " in bytes(data):
                os.write(fd, bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return os.write(fd, data)

    monkeypatch.setattr(events, "os", DiskFullAtStep3())
    assert main(["train", str(scene_job), "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert line == f"semiseg: error: {scene_job}: cannot be written: no space left on its disk; free some and run again", line
    assert not (scene_job / "model").exists()
    monkeypatch.undo()
    assert main(["train", str(scene_job), "--resume", "--quiet"]) == 0
    assert [e for e in read_events(scene_job) if e["type"] == "start"][-1]["resumed_from_step"] == 2
    _no_half_written(scene_job)  # the half line was taken back
    assert all(re.match(r"\d{4}-\d\d-\d\dT\S+ \w+: ", line) for line in (scene_job / "log.txt").read_text().splitlines()), "a half line in log.txt"


# --- a raster too large to hold whole -----------------------------------------------------

HUGE = 200_000


def _sparse_raster(path: Path, bands: int, nodata=None) -> Path:
    """A GeoTIFF that declares HUGE x HUGE px and stores next to nothing (one block written)."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    from conftest import TRANSFORM, UTM33

    profile = dict(driver="GTiff", width=HUGE, height=HUGE, count=bands, dtype="uint8", crs=UTM33, transform=TRANSFORM, nodata=nodata,
                   tiled=True, blockxsize=256, blockysize=256, sparse_ok=True, BIGTIFF="YES")
    with rasterio.open(path, "w", **profile) as ds:
        block = np.full((bands, 256, 256), 255 if nodata is not None else 100, np.uint8)
        if nodata is not None:
            block[:, 10:20, 10:20], block[:, 100:110, 100:110] = 0, 1
        ds.write(block, window=Window(0, 0, 256, 256))
    return path


@pytest.mark.parametrize("labels", ["vector", "raster"])
def test_a_labelled_raster_too_large_to_hold_its_labels_is_refused_up_front(scene_job, capsys, labels):
    import time

    import geopandas as gpd
    from shapely.geometry import box

    huge = _sparse_raster(scene_job / "huge.tif", 3)
    if labels == "vector":
        label_file = scene_job / "drawn.gpkg"
        gpd.GeoDataFrame({"class_id": [0, 1]}, geometry=[box(500010, 4999900, 500100, 4999990), box(500200, 4999700, 500300, 4999800)], crs="EPSG:32633").to_file(label_file, layer="labels")
    else:
        label_file = _sparse_raster(scene_job / "huge_labels.tif", 1, nodata=255)
    write_job(scene_job, labeled=[{"raster": "huge.tif", "labels": label_file.name}], predict=[])
    before = _digests(huge, label_file, scene_job / "job.json")
    started = time.monotonic()
    (line,) = _run_invalid(scene_job, capsys)
    assert str(huge) in line and f"{HUGE} x {HUGE} px" in line and "GiB" in line, line
    assert main(["validate", str(scene_job)]) == 2
    line = _one_error_line(capsys)
    assert str(huge) in line and f"{HUGE} x {HUGE} px" in line, line
    assert time.monotonic() - started < 60, "refused up front, not after reading the file"
    assert _digests(huge, label_file, scene_job / "job.json") == before


def test_polygons_of_a_raster_too_large_to_hold_are_refused_before_predicting(scene_job, tmp_path_factory, capsys):
    write_job(scene_job, method={"name": "supervised"}, train={"steps": 2}, predict=[])
    assert main(["train", str(scene_job), "--quiet"]) == 0
    huge = _sparse_raster(tmp_path_factory.mktemp("big") / "huge.tif", 3)
    out = tmp_path_factory.mktemp("maps")
    assert main(["predict", str(scene_job / "model"), str(huge), "--out", str(out), "--polygons", "--quiet", "--events"]) == 2
    line = _one_error_line(capsys)
    assert str(huge) in line and f"{HUGE} x {HUGE} px" in line and "--polygons" in line, line
    assert sorted(p.name for p in out.iterdir()) == ["events.jsonl", "log.txt"]


def test_gdal_and_torch_write_errors_on_a_disk_with_no_room_are_said_to_be_the_full_disk(monkeypatch, tmp_path):
    """Where no tmpfs can be mounted: the mapping itself, GDAL's and torch.save's errors carrying no errno."""
    import errno

    import semiseg.io.atomic as atomic
    from rasterio._err import CPLE_AppDefinedError

    gdal = CPLE_AppDefinedError(1, 1, "TIFFWriteDirectoryTagData:IO error writing tag data")
    torch_save = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 128 vs 0")
    target = tmp_path / "maps" / "a_classes.tif"
    assert atomic.write_failure(target, gdal) is None  # room on the disk: an engine bug, not the user's
    monkeypatch.setattr(atomic, "_free_bytes", lambda path: 4096)
    for exc in (gdal, torch_save, OSError(errno.EIO, "Input/output error")):
        failure = atomic.write_failure(target, exc)
        assert failure is not None and failure.problems == [f"{target}: cannot be written: no space left on its disk; free some and run again"], exc
    assert atomic.write_failure(target, OSError(errno.ENOENT, "No such file or directory")) is None
    assert atomic.write_failure(target, ValueError("a bug")) is None
