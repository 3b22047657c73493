"""Small generated rasters and jobs for engine tests (real files, real GDAL)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
UTM33 = CRS.from_epsg(32633)
TRANSFORM = Affine(2.0, 0.0, 500_000.0, 0.0, -2.0, 5_000_000.0)
CLASSES = [{"id": 0, "name": "dark", "color": "#202020"}, {"id": 1, "name": "bright", "color": "#f0f0f0"}]


def two_class_scene(height: int = 96, width: int = 96, bands: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Left half dark, right half bright, with noise; returns (image uint8, truth)."""
    rng = np.random.default_rng(seed)
    truth = (np.arange(width)[None, :] >= width // 2).repeat(height, 0).astype(np.uint8)
    image = np.where(truth == 0, 60, 190)[None].repeat(bands, 0) + rng.integers(0, 30, (bands, height, width))
    return image.astype(np.uint8), truth


def write_raster(path: Path, data: np.ndarray, transform=TRANSFORM, crs=UTM33, nodata=None) -> Path:
    data = data if data.ndim == 3 else data[None]
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype.name, nodata=nodata)
    if crs is not None or transform is not None:
        profile.update(crs=crs, transform=transform)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


def sparse_labels(truth: np.ndarray, every: int = 6) -> np.ndarray:
    labels = np.full(truth.shape, 255, dtype=np.uint8)
    labels[::every, ::every] = truth[::every, ::every]
    return labels


def write_job(job_dir: Path, **overrides) -> Path:
    job = {
        "version": 1,
        "classes": CLASSES,
        "labeled": [{"raster": "a.tif", "labels": "a_labels.tif"}],
        "unlabeled": [],
        "train": {"steps": 4, "batch_size": 2, "tile_size": 64, "lr": 1e-3, "seed": 0, "num_workers": 0},
        "predict": ["a.tif"],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(job.get(key), dict):
            job[key] = {**job[key], **value}
        else:
            job[key] = value
    (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
    return job_dir


@pytest.fixture
def scene_job(tmp_path: Path) -> Path:
    """A ready job: 96x96 3-band raster with sparse raster labels, predicting itself."""
    image, truth = two_class_scene()
    write_raster(tmp_path / "a.tif", image)
    write_raster(tmp_path / "a_labels.tif", sparse_labels(truth), nodata=255)
    return write_job(tmp_path)


@pytest.fixture
def batches(monkeypatch) -> list[tuple[dict, dict]]:
    """(method parameters, batch) of every training step the engine runs in this process (for a
    method that supports several domains, the batch of the job's first domain)."""
    from semiseg.train.task import SegmentationTask

    seen = []
    original = SegmentationTask.training_step

    def recording(self, batch, batch_idx):
        seen.append((self.method.params.model_dump(), next(iter(batch["domains"].values())) if self.method.supports_domains else batch))
        return original(self, batch, batch_idx)

    monkeypatch.setattr(SegmentationTask, "training_step", recording)
    return seen


def events_of(job_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]


SEMISEG = [sys.executable, "-m", "semiseg.cli"]


def start_training(job_dir: Path, *extra: str) -> subprocess.Popen:
    """`semiseg train` in its own process (to be cancelled or signalled)."""
    return subprocess.Popen([*SEMISEG, "train", str(job_dir), "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(job_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (job_dir / "events.jsonl").exists() and any(e.get("step", -1) >= step and e["type"] == "progress" for e in events_of(job_dir)):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError(f"step {step} not reached")


def require_shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data {path} is absent (see ../shared/data/README.md)")
    return path
