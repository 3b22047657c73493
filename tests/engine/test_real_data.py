"""Real rasters from ../shared/data: multi-band georeferenced and ungeoreferenced seismic.

Skipped with a message when the data folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from conftest import events_of, require_shared_data
from semiseg.cli import main


def _job(job_dir: Path, classes: list, labeled: list, unlabeled: list, predict: list, tile: int, **inference) -> Path:
    """Three steps, validated once at the end: these tests are about data handling, not quality."""
    job = {
        "version": 1,
        "classes": classes,
        "labeled": labeled,
        "unlabeled": unlabeled,
        "train": {"steps": 3, "batch_size": 2, "tile_size": tile, "lr": 1e-3, "seed": 0, "num_workers": 0, "eval_every": 3},
        "predict": predict,
        "inference": {"overlap": 0.5, "batch_size": 8, **inference},
    }
    (job_dir / "job.json").write_text(json.dumps(job))
    return job_dir


def _assert_same_grid(source: Path, output: Path) -> None:
    with rasterio.open(source) as src, rasterio.open(output) as out:
        assert (out.width, out.height) == (src.width, src.height)
        assert out.crs == src.crs
        assert out.transform == src.transform


def test_sentinel2_ten_bands_real_sparse_masks(tmp_path):
    data = require_shared_data("s2-strzegom")
    classes = json.loads((data / "classes.json").read_text())
    labeled = [{"raster": str(data / "images" / f"strzegom_{d}.tif"), "labels": str(data / "labels" / f"strzegom_{d}.tif")} for d in ("20220619", "20221012")]
    target = data / "images" / "strzegom_20230301.tif"
    _job(tmp_path, classes, labeled, [str(target)], [str(target)], tile=64)
    assert main(["train", str(tmp_path), "--quiet"]) == 0
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert card["in_channels"] == 10 and len(card["class_names"]) == 10
    out = tmp_path / "outputs" / "strzegom_20230301_classes.tif"
    _assert_same_grid(target, out)
    _assert_same_grid(target, tmp_path / "outputs" / "strzegom_20230301_confidence.tif")
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32633
        assert set(np.unique(ds.read(1))) <= set(range(10))


def test_seismic_section_without_crs(tmp_path):
    data = require_shared_data("seismic-tgs-salt")
    classes = json.loads((data / "classes.json").read_text())
    labeled = [{"raster": str(data / "images" / "salt_mosaic_00.tif"), "labels": str(data / "labels" / "salt_mosaic_00.tif")}]
    target = data / "images" / "salt_mosaic_01.tif"
    _job(tmp_path, classes, labeled, [str(target)], [str(target)], tile=128, overlap=0.0)
    assert main(["train", str(tmp_path), "--quiet"]) == 0
    assert events_of(tmp_path)[-1]["status"] == "completed"
    out = tmp_path / "outputs" / "salt_mosaic_01_classes.tif"
    _assert_same_grid(target, out)
    with rasterio.open(out) as ds:
        assert ds.crs is None and ds.transform.is_identity
        assert set(np.unique(ds.read(1))) <= {0, 1}
