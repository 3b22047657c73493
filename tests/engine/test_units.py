"""Metrics, validation split, window sampling and atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import write_job, write_raster
from semiseg.data.dataset import StepSampler, collate_windows
from semiseg.data.sampling import LabeledPixelIndex
from semiseg.data.split import split_blocks
from semiseg.errors import UserError
from semiseg.io.atomic import atomic_directory, atomic_path
from semiseg.pipeline.prepare import prepare_inputs
from semiseg.jobs.spec import load_job
from semiseg.metrics import confusion, scores
from semiseg.pipeline.domain_data import build_domain_data
from semiseg.train.precision import cpu_has_native_bf16, lightning_precision


def test_metrics_count_labelled_pixels_only():
    truth = np.array([[0, 0, 1, 255], [1, 1, 2, 255]], np.uint8)
    pred = np.array([[0, 1, 1, 0], [1, 1, 0, 2]], np.uint8)
    m = confusion(truth, pred, 3)
    assert m.sum() == 6 and m[0, 0] == 1 and m[0, 1] == 1 and m[1, 1] == 3 and m[2, 0] == 1
    s = scores(m, ["a", "b", "c"])
    assert s["oa"] == pytest.approx(4 / 6)
    assert s["per_class_iou"]["a"] == pytest.approx(1 / 3)  # tp 1, fn 1, fp 1
    assert s["per_class_iou"]["b"] == pytest.approx(3 / 4)
    assert s["per_class_iou"]["c"] == 0.0
    assert s["miou"] == pytest.approx((1 / 3 + 3 / 4 + 0) / 3)


def test_validation_blocks_are_hidden_from_training_labels():
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((128, 128)) < 0.2, rng.integers(0, 3, (128, 128)), 255).astype(np.uint8)
    train, blocks = split_blocks([labels], 32, 0.2, seed=0)
    assert blocks
    for b in blocks:
        assert (train[0][b.row : b.row + 32, b.col : b.col + 32] == 255).all()
        assert (labels[b.row : b.row + 32, b.col : b.col + 32] != 255).any()
    held = sum((labels[b.row : b.row + 32, b.col : b.col + 32] != 255).sum() for b in blocks)
    assert 0.1 <= held / (labels != 255).sum() <= 0.4
    outside = np.ones_like(labels, bool)
    for b in blocks:
        outside[b.row : b.row + 32, b.col : b.col + 32] = False
    np.testing.assert_array_equal(train[0][outside], labels[outside])


def test_too_few_labelled_blocks_means_no_validation():
    labels = np.full((64, 64), 255, np.uint8)
    labels[5, 5] = 1
    train, blocks = split_blocks([labels], 32, 0.2, seed=0)
    assert blocks == [] and (train[0] == labels).all()


def test_class_balanced_sampling_finds_rare_classes():
    labels = np.full((100, 100), 255, np.uint8)
    labels[:50, :] = 0
    labels[90, 90] = 1  # one pixel of a rare class
    index = LabeledPixelIndex([labels], 2, seed=0, class_balanced=True)
    draws = [index.draw_pixel(np.random.default_rng(i)) for i in range(400)]
    rare = sum(1 for _, r, c in draws if (r, c) == (90, 90))
    assert 140 <= rare <= 260
    for _, r, c in draws:
        assert labels[r, c] != 255


@pytest.mark.parametrize("where", ["all_rasters", "unlabeled_rasters"])
def test_unlabeled_windows_come_from_the_rasters_train_unlabeled_windows_names(tmp_path, where):
    """A dark labelled raster beside a bright unlabelled one: the brightness tells each window's source."""
    labels = np.full((96, 96), 255, np.uint8)
    labels[10:20, 10:20], labels[60:70, 60:70] = 0, 1
    write_raster(tmp_path / "a.tif", np.full((1, 96, 96), 20, np.uint8))
    write_raster(tmp_path / "a_labels.tif", labels, nodata=255)
    write_raster(tmp_path / "u.tif", np.full((1, 96, 96), 220, np.uint8))
    write_job(tmp_path, unlabeled=["u.tif"], method={"name": "mean_teacher"}, train={"tile_size": 32, "unlabeled_windows": where})
    spec = load_job(tmp_path)
    domain = prepare_inputs(spec).domains[0]
    windows = build_domain_data(domain, 0, spec.train, 200, with_unlabeled=True).windows
    from_unlabeled = [bool(windows[i]["unlabeled"]["image"].mean() > 0) for i in range(200)]
    if where == "unlabeled_rasters":
        assert all(from_unlabeled)
    else:  # area-proportional over both rasters: about half each
        assert 70 <= sum(from_unlabeled) <= 130


def test_unlabeled_per_labeled_adds_distinct_windows_to_every_batch(tmp_path):
    """Each labelled window brings k unlabelled ones; the first is the one k = 1 would have drawn."""
    rng = np.random.default_rng(0)
    labels = np.full((96, 96), 255, np.uint8)
    labels[10:20, 10:20], labels[60:70, 60:70] = 0, 1
    write_raster(tmp_path / "a.tif", rng.integers(0, 255, (1, 96, 96), dtype=np.uint8))
    write_raster(tmp_path / "a_labels.tif", labels, nodata=255)
    draws = {}
    for k in (1, 3):
        write_job(tmp_path, method={"name": "mean_teacher"}, train={"tile_size": 32, "unlabeled_per_labeled": k})
        spec = load_job(tmp_path)
        windows = build_domain_data(prepare_inputs(spec).domains[0], 0, spec.train, 10, with_unlabeled=True).windows
        draws[k] = collate_windows([windows[i] for i in range(2)])
    one, three = draws[1]["unlabeled"]["image"], draws[3]["unlabeled"]["image"]
    assert one.shape == (2, 1, 32, 32) and three.shape == (6, 1, 32, 32)
    assert draws[3]["unlabeled"]["valid"].shape == (6, 32, 32) and draws[3]["labeled"]["image"].shape == (2, 1, 32, 32)
    assert torch.equal(three[0], one[0]) and torch.equal(draws[3]["labeled"]["image"], draws[1]["labeled"]["image"])
    assert len({tuple(w.flatten()[:64].tolist()) for w in three}) == 6


def test_unlabeled_windows_only_from_unlabeled_rasters_needs_some(scene_job):
    write_job(scene_job, method={"name": "mean_teacher"}, train={"unlabeled_windows": "unlabeled_rasters"})
    with pytest.raises(UserError, match="train.unlabeled_windows.*lists none"):
        prepare_inputs(load_job(scene_job))


def test_step_sampler_gives_each_rank_its_own_samples():
    ranks = [list(StepSampler(5, 3, lambda: 2, rank=r, world_size=2)) for r in range(2)]
    assert not set(ranks[0]) & set(ranks[1])
    assert len(ranks[0]) == 9 and ranks[0][:3] == [12, 13, 14] and ranks[1][:3] == [15, 16, 17]


def test_atomic_writes_leave_nothing_when_interrupted(tmp_path):
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "model") as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("crash")
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and (tmp_path / "model" / "old.txt").exists()


def test_demo_scene_is_written_whole_and_its_scribbles_lie_on_their_classes(tmp_path):
    """`make demo` trains on these files: each label must fall on its class in the truth."""
    import rasterio

    from semiseg.data.labels import IGNORE_INDEX, load_labels
    from semiseg.demo.run import write_scenes
    from semiseg.demo.scene import CLASSES
    from semiseg.io.rasters import raster_info

    write_scenes(tmp_path, size=256)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["scene_a_labels.gpkg"] + [f"scene_{s}{t}.tif" for s in "abc" for t in ("", "_truth")])
    labels = load_labels(tmp_path / "scene_a_labels.gpkg", raster_info(tmp_path / "scene_a.tif"), len(CLASSES)).ids
    with rasterio.open(tmp_path / "scene_a_truth.tif") as ds:
        truth = ds.read(1)
    drawn = labels != IGNORE_INDEX
    assert drawn.mean() > 0.005 and (labels[drawn] == truth[drawn]).mean() > 0.97


def test_auto_precision_trains_in_bfloat16_only_on_a_cpu_that_computes_in_it(tmp_path, monkeypatch):
    flags = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw {extra}\n"
    for extra, native in [("avx512_bf16 avx512_vnni", True), ("amx_bf16 amx_tile", True), ("avx512_vnni", False)]:
        (tmp_path / "cpuinfo").write_text(flags.format(extra=extra))
        assert cpu_has_native_bf16(tmp_path / "cpuinfo") is native
    assert cpu_has_native_bf16(tmp_path / "missing") is False  # not Linux: keep float32
    monkeypatch.setattr("semiseg.train.precision.cpu_has_native_bf16", lambda: False)
    assert lightning_precision("auto", "cpu") == "32-true" and lightning_precision("bf16", "cpu") == "bf16-mixed"
    monkeypatch.setattr("semiseg.train.precision.cpu_has_native_bf16", lambda: True)
    assert lightning_precision("auto", "cpu") == "bf16-mixed" and lightning_precision("32", "cpu") == "32-true"


def test_the_eta_follows_the_pace_after_the_first_step_not_the_start_up(tmp_path, monkeypatch):
    """A first step that also starts workers and reads rasters must not stretch every ETA after it."""
    import json
    from types import SimpleNamespace

    import semiseg.train.callbacks as callbacks
    from semiseg.jobs.events import EventLog

    clock = [100.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])
    progress = callbacks.ProgressEvents(EventLog(tmp_path), total_steps=100)
    trainer = SimpleNamespace(global_step=0, optimizers=[SimpleNamespace(param_groups=[{"lr": 1e-3}])])
    module = SimpleNamespace(last_parts={})
    progress.on_train_start(trainer, module)
    for step, seconds in ((1, 20.0), (2, 1.0), (3, 1.0), (4, 1.0)):  # start-up, then 1 s a step
        clock[0] += seconds
        trainer.global_step = step
        progress.on_train_batch_end(trainer, module, {"loss": torch.tensor(0.5)}, None, step - 1)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events] == [1, 2, 3, 4]
    assert events[-1]["eta_s"] == pytest.approx(96.0)  # 96 steps left at 1 s; from the start it said 552
    assert events[-1]["elapsed_s"] == pytest.approx(23.0)


def test_importing_the_engine_leaves_gdal_settings_alone_and_the_cli_sets_them():
    """A library import must not change its host's GDAL cache (issue 26); `semiseg` runs with a small one."""
    import subprocess
    import sys

    probe = ("import os; os.environ.pop('GDAL_CACHEMAX', None); import semiseg.io.rasters, semiseg.predict.raster; "
             "print(os.environ.get('GDAL_CACHEMAX')); from semiseg.cli import main; main(['methods']); "
             "print(os.environ.get('GDAL_CACHEMAX'))")
    lines = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "None" and lines[-1] == "256"
