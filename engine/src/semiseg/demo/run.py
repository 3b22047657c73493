"""`semiseg demo`: generate scenes and scribbles, train, predict, evaluate, print where things are."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from semiseg.demo.scene import CLASSES, make_scene
from semiseg.demo.scribbles import scribbles_from_mask
from semiseg.devices import resolve_device
from semiseg.io.atomic import atomic_path, write_text_atomic
from semiseg.jobs.jobdir import JobDir

CRS_DEMO = CRS.from_epsg(32633)
PIXEL_M = 0.5
SCENES = {"scene_a": 1, "scene_b": 2, "scene_c": 3}  # name -> seed; a is labelled, c is evaluated


def _transform(index: int) -> Affine:
    return Affine(PIXEL_M, 0, 600_000 + index * 400, 0, -PIXEL_M, 5_650_000)


def write_scenes(data_dir: Path, size: int = 512) -> None:
    """GeoTIFF scenes, their dense truth, and scene_a's scribbles as a GeoPackage."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for i, (name, seed) in enumerate(SCENES.items()):
        scene = make_scene(seed, size)
        profile = dict(driver="GTiff", width=size, height=size, crs=CRS_DEMO, transform=_transform(i), tiled=True, compress="deflate")
        with atomic_path(data_dir / f"{name}.tif") as tmp, rasterio.open(tmp, "w", count=3, dtype="uint8", photometric="RGB", **profile) as ds:
            ds.write(scene.image)
        with atomic_path(data_dir / f"{name}_truth.tif") as tmp, rasterio.open(tmp, "w", count=1, dtype="uint8", nodata=255, **profile) as ds:
            ds.write(scene.truth, 1)
        if name == "scene_a":
            features = scribbles_from_mask(scene.truth, _transform(i), np.random.default_rng(seed), strokes_per_class=5)
            lines = [(g, c) for g, c in features if g.geom_type == "LineString"]
            regions = [(g, c) for g, c in features if g.geom_type == "Polygon"]
            with atomic_path(data_dir / "scene_a_labels.gpkg") as tmp:
                for layer, items in (("scribbles", lines), ("regions", regions)):
                    frame = gpd.GeoDataFrame({"class_id": [c for _, c in items]}, geometry=[g for g, _ in items], crs=CRS_DEMO.to_wkt())
                    frame.to_file(tmp, layer=layer, driver="GPKG")


def demo_job(steps: int, tile: int) -> dict:
    return {
        "version": 1,
        "classes": CLASSES,
        "labeled": [{"raster": "../data/scene_a.tif", "labels": "../data/scene_a_labels.gpkg", "class_field": "class_id"}],
        "unlabeled": ["../data/scene_b.tif", "../data/scene_c.tif"],
        "model": {"arch": "unet", "encoder": "resnet18"},
        "train": {"steps": steps, "batch_size": 8, "tile_size": tile, "lr": 1e-3, "seed": 0},
        "predict": ["../data/scene_c.tif"],
        "inference": {"polygons": True},
    }


def run_demo(out: Path, steps: int | None, device: str, quiet: bool) -> int:
    from semiseg.evaluate import evaluate
    from semiseg.pipeline.reporting import exit_code
    from semiseg.pipeline.runner import TrainOptions
    from semiseg.pipeline.train_job import train_job

    gpu = resolve_device(device).type == "cuda"
    steps = steps or (1500 if gpu else 300)
    tile = 256 if gpu else 128
    out = Path(out)
    print(f"semiseg demo: generating scenes in {out / 'data'}")
    write_scenes(out / "data")
    job_dir = out / "job"
    job = JobDir(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    for stale in (job.events, job.log):
        stale.unlink(missing_ok=True)
    write_text_atomic(job.spec, json.dumps(demo_job(steps, tile), indent=2))
    print(f"semiseg demo: training {steps} steps on {'GPU' if gpu else 'CPU'} (job: {job.spec})")
    code = exit_code(lambda: train_job(job_dir, TrainOptions(device=device, quiet=quiet)))
    if code != 0:
        return code
    pred = job.outputs / "scene_c_classes.tif"
    result = evaluate(pred, out / "data" / "scene_c_truth.tif")
    print(f"\nscene_c (never labelled) vs its ground truth: OA {result['oa']:.3f}  mIoU {result['miou']:.3f}")
    for name, iou in result["per_class_iou"].items():
        print(f"  {name:<12} IoU {iou:.3f}" if iou is not None else f"  {name:<12} -")
    print("\nOutputs (open them in QGIS; the .qml styles load with the rasters):")
    for path in sorted(job.outputs.iterdir()):
        print(f"  {path}")
    print(f"  {job.model}  (model package)")
    sys.stdout.flush()
    return 0
