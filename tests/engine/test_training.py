"""Training end to end through the CLI: events, model package, outputs, resume, cancel, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from safetensors.torch import load_file

from conftest import SEMISEG, TRANSFORM, events_of, sparse_labels, start_training, two_class_scene, wait_for_step, write_job, write_raster
from semiseg.cli import main
from semiseg.jobs.spec import DEFAULT_METHOD
from semiseg.train.forest import FOREST_TILE



def test_train_writes_events_model_metrics_and_outputs(scene_job, capsys, monkeypatch):
    import semiseg.predict.polygons as polygons_module

    sieve_sizes = []  # the smallest region each polygonize call keeps: the user's setting must reach it
    real_polygonize = polygons_module.polygonize
    monkeypatch.setattr(polygons_module, "polygonize", lambda *a, **k: sieve_sizes.append(a[4]) or real_polygonize(*a, **k))
    write_job(scene_job, inference={"polygons": True, "min_polygon_pixels": 3})
    assert main(["train", str(scene_job), "--quiet"]) == 0
    events = events_of(scene_job)
    types = [e["type"] for e in events]
    assert types[0] == "phase" and "start" in types and types[-1] == "done"
    assert events[-1]["status"] == "completed" and events[-1]["exit_code"] == 0
    progress = [e for e in events if e["type"] == "progress" and e.get("unit") != "window"]
    assert [e["step"] for e in progress] == [1, 2, 3, 4] and all(e["total"] == 4 and e["eta_s"] >= 0 for e in progress)
    predicting = events.index(next(e for e in events if e.get("phase") == "predict"))
    windows = [e for e in events[predicting:] if e["type"] == "progress"]  # the maps after training show progress too
    assert windows and all(e["unit"] == "window" for e in windows) and windows[-1]["step"] == windows[-1]["total"] > 0
    metrics = [e for e in events if e["type"] == "metrics"]
    assert metrics and set(metrics[-1]["per_class_iou"]) == {"dark", "bright"}

    card = json.loads((scene_job / "model" / "model.json").read_text())
    assert card["class_names"] == ["dark", "bright"] and card["bands"] == [1, 2, 3] and card["in_channels"] == 3
    # the training window, or the forest's where the default method's gate blended the forest in
    assert card["tile_size"] == (64 if not card.get("forest_blend") else FOREST_TILE) and len(card["mean"]) == 3 and card["fingerprint"]
    assert card["method"]["name"] == DEFAULT_METHOD == "mean_teacher"  # the job omits `method`: the documented default
    assert json.loads((scene_job / "metrics.json").read_text())["validation"]["step"] == 4
    assert not (scene_job / "checkpoints").exists()  # written every step, removed at the end: a completed job resumes nothing
    outputs = {e["path"] for e in events if e["type"] == "output"}
    assert {"outputs/a_classes.tif", "outputs/a_confidence.tif", "outputs/a_classes.qml", "model"} <= outputs
    assert {"outputs/a_polygons.gpkg", "outputs/a_polygons.qml"} <= outputs  # inference.polygons

    # The exported package predicts the same map through `semiseg predict`, for each raster given.
    out = scene_job / "again"
    twin = scene_job / "copy" / "b.tif"
    twin.parent.mkdir()
    twin.write_bytes((scene_job / "a.tif").read_bytes())
    predict = ["predict", str(scene_job / "model"), str(scene_job / "a.tif"), str(twin), "--out", str(out)]
    assert main([*predict, "--polygons", "--min-polygon-pixels", "7", "--quiet", "--events"]) == 0
    assert sieve_sizes == [3, 7, 7]  # inference.min_polygon_pixels for the job, --min-polygon-pixels per raster
    predict_events = events_of(out)
    assert predict_events[-1]["status"] == "completed" and predict_events[-1]["message"] == "predicted 2 raster(s)"
    assert any(e["type"] == "progress" for e in predict_events)
    assert {e["path"] for e in predict_events if e["type"] == "output"} >= {"a_classes.tif", "a_confidence.tif", "b_classes.tif", "b_confidence.tif"}
    for name in ("a_classes.tif", "b_classes.tif"):
        with rasterio.open(scene_job / "outputs" / "a_classes.tif") as a, rasterio.open(out / name) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))

    # --bounds (the plugin's "current map extent"): the covering pixels only, on the raster's grid.
    with rasterio.open(scene_job / "a.tif") as src:
        transform = src.transform
    (x0, y0), (x1, y1) = transform @ (10, 50), transform @ (40, 20)
    area = scene_job / "area"
    bounds = ["--bounds", *map(str, (x0, y0, x1, y1))]
    assert main(["predict", str(scene_job / "model"), str(scene_job / "a.tif"), "--out", str(area), "--quiet", "--events", "--polygons", *bounds]) == 0
    with rasterio.open(area / "a_classes.tif") as part:
        assert part.shape == (30, 30) and part.transform == transform @ Affine.translation(10, 20)
        # --polygons: the class regions as a styled GeoPackage over the same pixels
        polygons = gpd.read_file(area / "a_polygons.gpkg")
        assert polygons.crs == part.crs and set(polygons["class"]) <= {"dark", "bright"}
        assert np.allclose(polygons.total_bounds, list(part.bounds)) and np.isclose(polygons.area.sum(), 30 * 30 * 4.0)
    area_events = events_of(area)
    assert {e["path"] for e in area_events if e["type"] == "output"} >= {"a_polygons.gpkg", "a_polygons.qml"}
    assert [e["phase"] for e in area_events if e["type"] == "phase"] == ["predict", "polygons"]
    capsys.readouterr()
    outside = ["--bounds", str(x0 - 1e4), str(y0), str(x0 - 9e3), str(y1)]
    assert main(["predict", str(scene_job / "model"), str(scene_job / "a.tif"), "--out", str(scene_job / "nowhere"), "--quiet", *outside]) == 2
    err = capsys.readouterr().err
    assert "a.tif: --bounds" in err and "do not overlap" in err and "Traceback" not in err

    # `semiseg evaluate` scores the map on the labelled pixels only, under the names the map carries.
    assert main(["evaluate", "--pred", str(scene_job / "outputs" / "a_classes.tif"), "--labels", str(scene_job / "a_labels.tif"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with rasterio.open(scene_job / "outputs" / "a_classes.tif") as p, rasterio.open(scene_job / "a_labels.tif") as t:
        predicted, labels = p.read(1), t.read(1)
    scored = labels != 255
    assert report["pixels"] == scored.sum() and report["oa"] == pytest.approx((predicted[scored] == labels[scored]).mean())
    assert list(report["per_class_iou"]) == ["dark", "bright"]

    # A raster without the bands the model reads: one line naming it, nothing written.
    gray = write_raster(scene_job / "gray.tif", np.zeros((1, 40, 40), np.uint8))
    assert main(["predict", str(scene_job / "model"), str(gray), "--out", str(scene_job / "gray_maps"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "gray.tif: has 1 band(s) but the model reads band(s) [1, 2, 3]" in err and "Traceback" not in err
    assert not list((scene_job / "gray_maps").glob("*.tif"))


def test_training_maps_the_pixels_it_was_not_given_as_the_labels_say(scene_job):
    """Labels reach the loss aligned with their pixels and classes: a short run maps the rest."""
    write_job(scene_job, train={"steps": 30}, inference={"overlap": 0.5})
    assert main(["train", str(scene_job), "--quiet"]) == 0
    _, truth = two_class_scene()
    with rasterio.open(scene_job / "outputs" / "a_classes.tif") as ds:
        predicted = ds.read(1)
    unseen = sparse_labels(truth) == 255
    accuracy = (predicted[unseen] == truth[unseen]).mean()
    assert accuracy > 0.95, accuracy


def test_same_seed_same_weights(scene_job, tmp_path):
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(scene_job, twin)
    assert main(["train", str(scene_job), "--quiet"]) == 0
    assert main(["train", str(twin), "--quiet"]) == 0
    a, b = load_file(scene_job / "model" / "model.safetensors"), load_file(twin / "model" / "model.safetensors")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


@pytest.mark.parametrize("method", ["supervised", "mean_teacher"])  # mean_teacher: the EMA teacher's state must resume too
def test_interrupted_then_resumed_run_ends_with_the_same_weights(scene_job, tmp_path, method):
    import shutil

    write_job(scene_job, train={"steps": 8, "checkpoint_every": 100}, predict=[], method={"name": method})
    twin = tmp_path / "twin"
    shutil.copytree(scene_job, twin)
    assert main(["train", str(twin), "--quiet"]) == 0

    proc = start_training(scene_job)
    wait_for_step(scene_job, 3, proc)
    (scene_job / "cancel").touch()
    assert proc.wait(120) == 130
    assert events_of(scene_job)[-1]["status"] == "cancelled"
    assert (scene_job / "checkpoints" / "last.ckpt").exists() and not (scene_job / "model").exists()

    assert main(["train", str(scene_job), "--resume", "--quiet"]) == 0
    resumed = [e for e in events_of(scene_job) if e["type"] == "start"][-1]
    assert 3 <= resumed["resumed_from_step"] < 8
    a, b = load_file(scene_job / "model" / "model.safetensors"), load_file(twin / "model" / "model.safetensors")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_sigterm_checkpoints_and_leaves_no_half_written_output(scene_job):
    write_job(scene_job, train={"steps": 400, "checkpoint_every": 1000})
    proc = start_training(scene_job)
    wait_for_step(scene_job, 2, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 130
    done = events_of(scene_job)[-1]
    assert done["type"] == "done" and done["status"] == "cancelled" and done["exit_code"] == 130
    assert (scene_job / "checkpoints" / "last.ckpt").exists()
    assert not (scene_job / "model").exists() and not (scene_job / "outputs").exists()
    assert not [p for p in scene_job.rglob("*") if "partial" in p.name]


def _a_long_prediction_under_way(scene_job, tmp_path):
    """(raster, --out folder, process) of `semiseg predict` on a 1536 px raster, a window done."""
    write_job(scene_job, predict=[])
    assert main(["train", str(scene_job), "--quiet"]) == 0
    big = write_raster(tmp_path / "big.tif", np.random.default_rng(0).integers(0, 255, (3, 1536, 1536), dtype=np.uint8))
    out = tmp_path / "maps"
    args = [*SEMISEG, "predict", str(scene_job / "model"), str(big), "--out", str(out), "--events", "--quiet", "--batch-size", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_step(out, 1, proc)
    return big, out, proc


def test_sigterm_stops_a_prediction_and_leaves_no_partial_file(scene_job, tmp_path):
    """The plugin cancels `semiseg predict` with SIGTERM: the temporary outputs must go too; what
    stays is the finished blocks (predict/parts.py), whole, for the same command to resume."""
    _, out, proc = _a_long_prediction_under_way(scene_job, tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 130
    done = events_of(out)[-1]
    assert done["type"] == "done" and done["status"] == "cancelled" and done["exit_code"] == 130
    assert sorted(p.name for p in out.iterdir()) == ["big.parts", "events.jsonl", "log.txt"]
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary, in the parts neither
    assert (out / "big.parts" / "manifest.json").is_file()


def test_a_prediction_killed_with_sigkill_leaves_nothing_after_the_next_run(scene_job, tmp_path):
    """kill -9 gives no chance to clean up: the next prediction into the folder removes the dead run's temporaries."""
    big, out, proc = _a_long_prediction_under_way(scene_job, tmp_path)
    proc.kill()
    proc.wait(60)
    assert [p for p in out.rglob("*") if "partial" in p.name], "the killed run had temporaries to leave"
    x0, y1 = TRANSFORM @ (0, 0)
    x1, y0 = TRANSFORM @ (64, 64)  # the next run maps a corner: a quick run writing the same files
    assert main(["predict", str(scene_job / "model"), str(big), "--out", str(out), "--quiet", "--bounds", *map(str, (x0, y0, x1, y1))]) == 0
    assert sorted(p.name for p in out.rglob("*") if p.name.startswith(".")) == []
    assert {"big_classes.tif", "big_confidence.tif"} <= {p.name for p in out.iterdir()}
    assert not (out / "big.parts").exists()  # the other prediction (an area) started over and, done, removed the parts


def test_a_killed_run_leaves_the_last_periodic_checkpoint(scene_job):
    """kill -9 (a crash, a closed laptop) gives no chance to save: the periodic checkpoint is what resumes."""
    from semiseg.pipeline.runner import read_checkpoint_fields

    write_job(scene_job, train={"steps": 400, "checkpoint_every": 2})
    proc = start_training(scene_job)
    wait_for_step(scene_job, 5, proc)
    proc.kill()
    proc.wait(60)
    step = read_checkpoint_fields(scene_job / "checkpoints" / "last.ckpt")["global_step"]
    assert step >= 4 and step % 2 == 0


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc to follow the processes")
def test_kill_9_of_the_engine_leaves_no_data_loading_worker_behind(scene_job):
    write_job(scene_job, train={"steps": 400, "num_workers": 2, "checkpoint_every": 1000})
    proc = start_training(scene_job)
    wait_for_step(scene_job, 3, proc)
    workers = _process_tree(proc.pid) - {proc.pid}
    assert workers, "the run has data-loading workers to leave behind"
    proc.kill()
    proc.wait(60)

    def running(pid: int) -> bool:  # a zombie is dead, waiting for init to reap it
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 1.0  # the kernel's SIGKILL, not a worker's own periodic check
    while time.monotonic() < deadline and any(map(running, workers)):
        time.sleep(0.05)
    assert not any(map(running, workers)), f"workers {[p for p in workers if running(p)]} outlived the engine"


def test_cancel_while_predicting_after_training_stops_and_resume_finishes(scene_job, monkeypatch):
    """The plugin's Cancel can arrive after the last step, while the maps are written: honour it."""
    import semiseg.pipeline.predict_job as predict_job

    predict_raster = predict_job.predict_raster

    def cancel_then_predict(*args, **kwargs):
        (scene_job / "cancel").touch()
        return predict_raster(*args, **kwargs)

    write_job(scene_job)
    caller_handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(predict_job, "predict_raster", cancel_then_predict)
    assert main(["train", str(scene_job), "--quiet"]) == 130
    assert signal.getsignal(signal.SIGINT) is caller_handler  # Ctrl-C works again for whoever called the engine
    assert events_of(scene_job)[-1]["status"] == "cancelled"
    assert not list((scene_job / "outputs").glob("*.tif")) and not [p for p in scene_job.rglob("*") if "partial" in p.name]

    monkeypatch.setattr(predict_job, "predict_raster", predict_raster)
    assert main(["train", str(scene_job), "--resume", "--quiet"]) == 0
    assert [e for e in events_of(scene_job) if e["type"] == "start"][-1]["resumed_from_step"] == 4
    assert (scene_job / "outputs" / "a_classes.tif").exists()


def test_resume_refuses_changed_inputs_and_another_engine_version(scene_job, capsys, monkeypatch):
    import semiseg.pipeline.runner as runner
    from semiseg.errors import Cancelled

    def stopped_after_training(*args, **kwargs):
        raise Cancelled()  # cancelled while the maps are written: the checkpoint stays for --resume

    write_job(scene_job, predict=[])
    monkeypatch.setattr(runner, "export_models", stopped_after_training)
    assert main(["train", str(scene_job), "--quiet"]) == 130
    write_job(scene_job, predict=[], train={"lr": 0.5})
    assert main(["train", str(scene_job), "--resume", "--quiet"]) == 2
    assert "changed since the checkpoint" in capsys.readouterr().err
    write_job(scene_job, predict=[])
    monkeypatch.setattr("semiseg.pipeline.fingerprint.__version__", "99.0.0")  # its checkpoints may be laid out differently
    assert main(["train", str(scene_job), "--resume", "--quiet"]) == 2
    assert "engine version changed since the checkpoint" in capsys.readouterr().err

    monkeypatch.undo()
    monkeypatch.setattr(runner, "export_models", stopped_after_training)
    assert main(["train", str(scene_job), "--resume", "--quiet"]) == 130  # nothing changed: resume is allowed
    _, truth = two_class_scene()
    corrected = sparse_labels(truth)
    corrected[1, 1] = truth[1, 1]  # the user corrects one label in the same file
    write_raster(scene_job / "a_labels.tif", corrected, nodata=255)
    assert main(["train", str(scene_job), "--resume", "--quiet"]) == 2
    assert "input files" in capsys.readouterr().err


def _process_tree(root: int) -> set[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    return tree


def _listening_addresses(pids: set[int]) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* writes them) of the TCP sockets these processes listen on."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                addresses.add(fields[1].rsplit(":", 1)[0])
    return addresses


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc to see the sockets")
def test_two_process_ddp_on_cpu_listens_on_the_loopback_only(scene_job):
    write_job(scene_job, train={"steps": 3})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    engine = subprocess.Popen([*SEMISEG, "train", str(scene_job), "--quiet", "--device", "cpu", "--devices", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = set()
    while engine.poll() is None:
        seen |= _listening_addresses(_process_tree(engine.pid))
        time.sleep(0.1)
    stderr = engine.stderr.read()
    assert engine.returncode == 0, stderr[-2000:]
    assert seen <= LOOPBACK, f"a single-machine run listens on {seen - LOOPBACK} (hex, as in /proc/net/tcp)"
    assert not list(scene_job.glob(".ddp-rendezvous-*")), "the rendezvous file goes with the run"
    events = events_of(scene_job)
    assert [e for e in events if e["type"] == "start"][0]["device"] == "cpux2"
    assert len([e for e in events if e["type"] == "done"]) == 1, "only rank 0 writes events"
    assert events[-1]["status"] == "completed" and (scene_job / "outputs" / "a_classes.tif").exists()


@pytest.mark.parametrize("how", ["cancel file", "SIGTERM"])
def test_cancel_while_the_inputs_are_read_stops_before_training(scene_job, monkeypatch, how):
    """Reading labels and band statistics of large rasters takes a while; Cancel must work there too."""
    import semiseg.pipeline.runner as runner

    prepare_inputs = runner.prepare_inputs

    def cancel_then_prepare(spec):
        if how == "cancel file":
            (scene_job / "cancel").touch()
        else:
            os.kill(os.getpid(), signal.SIGTERM)
        return prepare_inputs(spec)

    (scene_job / "cancel").touch()  # left by an earlier run: not a request for this one
    ignore = lambda *args: None  # noqa: E731  the caller's handler; it keeps pytest alive should the engine lack its own
    caller_handler = signal.signal(signal.SIGTERM, ignore)
    try:
        assert main(["train", str(scene_job), "--quiet"]) == 0
        monkeypatch.setattr(runner, "prepare_inputs", cancel_then_prepare)
        assert main(["train", str(scene_job), "--quiet"]) == 130
        assert signal.getsignal(signal.SIGTERM) is ignore  # the engine gives the caller its handler back
    finally:
        signal.signal(signal.SIGTERM, caller_handler)
    events = events_of(scene_job)
    second_run = events[max(i for i, e in enumerate(events) if e.get("phase") == "prepare"):]
    assert [e["type"] for e in second_run] == ["phase", "done"]  # no training started
    assert second_run[-1]["status"] == "cancelled" and second_run[-1]["exit_code"] == 130
