"""Shared by the method tests: tiny generated scenes, job directories, batches and contexts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from semiseg.models.network import build_network
from semiseg.train.methods import build_method
from semiseg.train.methods.base import DomainInfo, MethodContext, StepInfo
from semiseg.train.task import step_generator

CLASSES = ["water", "field", "forest"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors on a shared 2-core machine: a second intra-op thread only waits for the other users."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_scene(folder: Path, bands: int = 3, size: int = 96, seed: int = 0) -> tuple[Path, Path]:
    """A raster of three colour regions with noise, and a sparse label raster (255 = unlabelled)."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), dtype=np.uint8)
    truth[:, size // 3 :] = 1
    truth[size // 2 :, 2 * size // 3 :] = 2
    colours = rng.uniform(20, 230, size=(len(CLASSES), bands))
    image = colours[truth].transpose(2, 0, 1) + rng.normal(0, 8, size=(bands, size, size))
    labels = np.full((size, size), 255, dtype=np.uint8)
    for k in range(len(CLASSES)):
        rows, cols = np.nonzero(truth == k)
        pick = rng.choice(len(rows), size=min(120, len(rows)), replace=False)
        labels[rows[pick], cols[pick]] = k
    profile = dict(driver="GTiff", width=size, height=size, crs="EPSG:32633", transform=from_origin(500000, 5000000, 1, 1))
    raster, label_raster = folder / "scene.tif", folder / "labels.tif"
    with rasterio.open(raster, "w", count=bands, dtype="float32", **profile) as ds:
        ds.write(image.astype(np.float32))
    with rasterio.open(label_raster, "w", count=1, dtype="uint8", nodata=255, **profile) as ds:
        ds.write(labels[None])
    return raster, label_raster


def write_job(folder: Path, method: dict, bands: int = 3, arch: str = "unet", steps: int = 3, **train) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raster, labels = write_scene(folder, bands)
    job = {
        "version": 1,
        "classes": [{"id": i, "name": n} for i, n in enumerate(CLASSES)],
        "labeled": [{"raster": raster.name, "labels": labels.name}],
        "method": method,
        "model": {"arch": arch, "encoder": "resnet18"},
        "train": {"steps": steps, "batch_size": 2, "tile_size": 64, "num_workers": 0, "eval_every": steps, **train},
        "predict": [raster.name],
    }
    (folder / "job.json").write_text(json.dumps(job))
    return folder


def context(in_channels: int = 3, arch: str = "unet", total_steps: int = 100) -> MethodContext:
    """One domain ("default") of `in_channels` bands and the three CLASSES, as a plain job has."""
    return MethodContext((DomainInfo("default", list(CLASSES), in_channels),), total_steps, lambda bands, classes: build_network(arch, "resnet18", bands, classes))


def make_method(name: str, params: dict | None = None, in_channels: int = 3, arch: str = "unet", total_steps: int = 100, seed: int = 0):
    torch.manual_seed(seed)
    return build_method(name, params or {}, context(in_channels, arch, total_steps))


def make_batch(in_channels: int = 3, batch: int = 2, size: int = 64, seed: int = 0) -> dict:
    """Labelled windows with a few labelled pixels per class, and unlabeled windows."""
    g = torch.Generator().manual_seed(seed)
    label = torch.full((batch, size, size), 255, dtype=torch.long)
    label[:, 8:12, 8:40] = 0
    label[:, 30:34, 8:40] = 1
    label[:, 50:54, 8:40] = 2
    ones = torch.ones(batch, size, size, dtype=torch.bool)
    return {
        "labeled": {"image": torch.randn(batch, in_channels, size, size, generator=g), "label": label, "valid": ones},
        "unlabeled": {"image": torch.randn(batch, in_channels, size, size, generator=g), "valid": ones.clone()},
    }


def domain_batch(batch: dict, name: str = "default") -> dict:
    """A one-domain batch the way a method that supports several domains receives it."""
    return {"domains": {name: batch}}


def batch_for(method, batch: dict) -> dict:
    """`batch` in the shape `method` receives: per domain when it supports several."""
    return domain_batch(batch, method.ctx.domain.name) if method.supports_domains else batch


def step_at(step: int, total: int = 100, seed: int = 0) -> StepInfo:
    return StepInfo(step, total, step_generator(seed, step, torch.device("cpu")))
