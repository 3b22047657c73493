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


# What `semiseg demo` trains on a CPU: short enough that the whole demo (two trainings, four
# predictions) runs in about four minutes on two idle cores (the 300 steps of 8 windows of 128 px
# it trained before took 11.5 minutes). The network learns less in 80 steps of 4 windows of 96 px
# than in the 1500 steps of 8 windows of 256 px it trains on a GPU; the held-out scores printed
# say how much, beside the Quick map's.
CPU_STEPS, CPU_BATCH, CPU_TILE = 80, 4, 96
GPU_STEPS, GPU_BATCH, GPU_TILE = 1500, 8, 256
QUICK_METHOD = "pixel_forest"  # the plugin's Quick map (plugin/jobs/job.py)
DEFAULT_METHOD = "mean_teacher"  # the engine's default (jobs/spec.py), gated against the pixel forest
PREDICTED = ("scene_a", "scene_c")  # a: its unscribbled pixels are held out; c: never labelled


def demo_job(steps: int, tile: int, batch: int = 8, method: str | None = None) -> dict:
    """The demo's job.json: the engine's default method unless `method` (then no network model for
    the pixel forest), scribbles on scene_a, maps of scene_a and scene_c."""
    job = {
        "version": 1,
        "classes": CLASSES,
        "labeled": [{"raster": "../data/scene_a.tif", "labels": "../data/scene_a_labels.gpkg", "class_field": "class_id"}],
        "unlabeled": ["../data/scene_b.tif", "../data/scene_c.tif"],
        "model": {"arch": "unet", "encoder": "resnet18"},
        # Validated and checkpointed once, at the end: a short run spends its time training.
        "train": {"steps": steps, "batch_size": batch, "tile_size": tile, "lr": 1e-3, "seed": 0, "eval_every": steps, "checkpoint_every": steps},
        "predict": [f"../data/{name}.tif" for name in PREDICTED],
        "inference": {"polygons": True},
    }
    if method == QUICK_METHOD:
        del job["model"], job["unlabeled"]
        job["method"] = {"name": QUICK_METHOD}
    elif method:
        job["method"] = {"name": method}
    return job


def held_out_scores(outputs: Path, data_dir: Path) -> dict[str, dict]:
    """Each predicted scene's map against its ground truth, on the pixels no scribble touched:
    all of scene_c (never labelled), scene_a less the pixels its scribbles rasterize to (as the
    engine rasterizes them for training). Keyed by scene; each has `miou`, `oa`, `per_class_iou`, `pixels`."""
    from semiseg.data.labels import IGNORE_INDEX, load_labels
    from semiseg.io.rasters import raster_info
    from semiseg.metrics import confusion, scores

    names = [c["name"] for c in CLASSES]
    result = {}
    for scene in PREDICTED:
        with rasterio.open(outputs / f"{scene}_classes.tif") as ds:
            pred = ds.read(1)
        with rasterio.open(data_dir / f"{scene}_truth.tif") as ds:
            truth = ds.read(1)
        if scene == "scene_a":
            scribbled = load_labels(data_dir / "scene_a_labels.gpkg", raster_info(data_dir / "scene_a.tif"), len(names)).ids != IGNORE_INDEX
            truth = np.where(scribbled, IGNORE_INDEX, truth).astype(np.uint8)
        matrix = confusion(truth, pred, len(names))
        result[scene] = {**scores(matrix, names), "pixels": int(matrix.sum())}
    return result


def _say_scores(what: str, held_out: dict[str, dict]) -> None:
    a, c = held_out["scene_a"], held_out["scene_c"]
    print(f"\n{what}, held-out mIoU against the ground truth (pixels no scribble touched):")
    print(f"  scene_a, unscribbled pixels ({a['pixels']} px): mIoU {a['miou']:.3f}  OA {a['oa']:.3f}")
    print(f"  scene_c, never labelled     ({c['pixels']} px): mIoU {c['miou']:.3f}  OA {c['oa']:.3f}")
    for name, iou in c["per_class_iou"].items():
        print(f"    {name:<12} IoU {iou:.3f}" if iou is not None else f"    {name:<12} -")
    sys.stdout.flush()


def _run_job(job_dir: Path, spec: dict, device: str, quiet: bool) -> int:
    from semiseg.pipeline.reporting import exit_code
    from semiseg.pipeline.runner import TrainOptions
    from semiseg.pipeline.train_job import train_job

    job = JobDir(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    for stale in (job.events, job.log):
        stale.unlink(missing_ok=True)
    write_text_atomic(job.spec, json.dumps(spec, indent=2))
    # The demo prints the held-out scores itself; train_job's line would give the validation
    # blocks' (scribbles held back, 1.000 on this easy scene) as if it were the map's.
    return exit_code(lambda: train_job(job_dir, TrainOptions(device=device, quiet=quiet), announce=False))


def run_demo(out: Path, steps: int | None, device: str, quiet: bool, size: int = 512) -> int:
    """The Quick map (pixel forest) and its held-out score, then the default method and the final
    map's held-out score. The scenes are synthetic: their truth is known everywhere, and the
    scores are on pixels no scribble touched, not the validation blocks cut from the scribbles."""
    gpu = resolve_device(device).type == "cuda"
    default_steps, batch, tile = (GPU_STEPS, GPU_BATCH, GPU_TILE) if gpu else (CPU_STEPS, CPU_BATCH, CPU_TILE)
    steps = steps or default_steps
    out = Path(out)
    data_dir = out / "data"
    print(f"semiseg demo: generating scenes in {data_dir}")
    write_scenes(data_dir, size)

    quick_dir = out / "quick"
    print(f"\nsemiseg demo: 1/2 the Quick map: a pixel forest on scene_a's scribbles (job: {quick_dir / 'job.json'})")
    code = _run_job(quick_dir, demo_job(steps, tile, batch, QUICK_METHOD), device, quiet)
    if code != 0:
        return code
    quick = held_out_scores(JobDir(quick_dir).outputs, data_dir)
    _say_scores("Quick map (pixel forest)", quick)

    job_dir = out / "job"
    job = JobDir(job_dir)
    print(f"\nsemiseg demo: 2/2 the default method ({DEFAULT_METHOD}, blended with a pixel forest): {steps} steps of {batch} windows of {tile} px on {'GPU' if gpu else 'CPU'} (job: {job.spec})")
    code = _run_job(job_dir, demo_job(steps, tile, batch), device, quiet)
    if code != 0:
        return code
    final = held_out_scores(job.outputs, data_dir)
    _say_scores(f"Trained map ({DEFAULT_METHOD})", final)

    print("\nOutputs (open them in QGIS; the .qml styles load with the rasters):")
    for path in sorted(job.outputs.iterdir()):
        print(f"  {path}")
    print(f"  {job.model}  (model package)")
    print(f"  {JobDir(quick_dir).outputs}  (the Quick map's)")
    print(
        f"\nsemiseg demo: done. Held-out mIoU on scene_c (never labelled): Quick map {quick['scene_c']['miou']:.3f}, "
        f"trained {final['scene_c']['miou']:.3f}; on scene_a's unscribbled pixels: {quick['scene_a']['miou']:.3f}, {final['scene_a']['miou']:.3f}"
    )
    sys.stdout.flush()
    return 0
