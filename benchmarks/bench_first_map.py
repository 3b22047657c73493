"""How long an analyst waits for a map with the defaults (issue 23): the Quick map and the default training.

The largest real aerial-dubai image (1126 x 1058 px in ../shared/data today) with ~1 % scribbles drawn from
its dense mask by the quality benchmark's scribble generator; two jobs as the dock writes them,
nothing under Advanced touched: "Quick map" (pixel_forest) and "Train" (the default method and
train settings). Each runs `semiseg train` through to its prediction of the whole image; the
table gives wall-clock to the finished map and mIoU on the image's pixels that carry no
scribble (the map the analyst looks at, not an evaluation on new images: docs/benchmarks.md's
quality tables are that).

"Train again" (`again`, after `default`) is a round of the labelling loop as the dock runs it: a
second ~1 % draw of scribbles added, the default job's model continued on the dock's quick
schedule (plugin/jobs/job.py RETRAIN_*), then `semiseg predict` of a 1000 x 1000 area (the visible
map area the dock refreshes first); its wall-clock is both together.

Usage: .venv/bin/python benchmarks/bench_first_map.py [--jobs quick default again] [--work DIR]
Skips (exit 0, message) when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "aerial-dubai"
PLUGIN_JOB = ROOT / "plugin" / "jobs" / "job.py"  # the dock's "Train again" schedule
sys.path.insert(0, str(ROOT / "benchmarks"))


def largest_image() -> Path:
    import rasterio

    def pixels(p: Path) -> int:
        with rasterio.open(p) as ds:
            return ds.width * ds.height

    return max(sorted((DATA / "images").glob("*.tif")), key=pixels)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", nargs="+", default=["quick", "default", "again"], choices=["quick", "default", "again"])
    ap.add_argument("--work", type=Path, default=ROOT / "bench-output" / "first-map")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"bench_first_map: skipped: no real data at {DATA} (see ../shared/data/README.md)")
        return 0
    import rasterio

    from bench_quality import _read, _write, sparse_labels
    from semiseg.cli import main as semiseg
    from semiseg.metrics import confusion, scores

    image = largest_image()
    truth, profile = _read(DATA / "labels" / image.name)
    labels = sparse_labels(truth[0], 0.01, np.random.default_rng([0, sum(image.name.encode())]))
    args.work.mkdir(parents=True, exist_ok=True)
    labels_path = args.work / f"{image.stem}_scribbles.tif"
    _write(labels_path, labels[None], profile, nodata=255)
    classes = json.loads((DATA / "classes.json").read_text())
    more = sparse_labels(truth[0], 0.01, np.random.default_rng([1, sum(image.name.encode())]))
    both_path = args.work / f"{image.stem}_scribbles_round2.tif"
    _write(both_path, np.where(labels != 255, labels, more)[None].astype(np.uint8), profile, nodata=255)
    rows = []
    for name in args.jobs:
        job_dir = args.work / name
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        job = {"version": 1, "classes": classes, "labeled": [{"raster": str(image), "labels": str(labels_path)}], "predict": [str(image)]}
        if name == "quick":
            job["method"] = {"name": "pixel_forest"}
        if name == "again":  # the dock's "Train again": the default job's model, the quick schedule, no map of its own
            steps, tile, batch = (int(re.search(rf"RETRAIN_{k} = (\d+)", PLUGIN_JOB.read_text()).group(1)) for k in ("STEPS", "TILE", "BATCH"))
            job.update(labeled=[{"raster": str(image), "labels": str(both_path)}], predict=[],
                       model={"init_from": str(args.work / "default" / "model")},
                       train={"steps": steps, "tile_size": tile, "batch_size": batch})
        (job_dir / "job.json").write_text(json.dumps(job, indent=1))
        start = time.time()
        code = semiseg(["train", str(job_dir), "--quiet"])
        if code == 0 and name == "again":  # then the visible area: 1000 x 1000 px from the image's corner
            with rasterio.open(image) as ds:
                x0, y1 = ds.transform * (0, 0)
                x1, y0 = ds.transform * (1000, 1000)
            code = semiseg(["predict", str(job_dir / "model"), str(image), "--out", str(job_dir / "outputs"), "--quiet",
                            "--bounds", str(x0), str(y0), str(x1), str(y1)])
        wall = time.time() - start
        if code != 0:
            raise RuntimeError(f"{job_dir}: semiseg exited {code}")
        with rasterio.open(job_dir / "outputs" / f"{image.stem}_classes.tif") as ds:
            pred = ds.read(1)
            if name == "again":  # the area's map against the area's truth
                truth_area = truth[0][:1000, :1000]
                unscribbled = np.where(np.where(labels != 255, labels, more)[:1000, :1000] == 255, truth_area, 255).astype(np.uint8)
                result = scores(confusion(unscribbled, pred, len(classes)), [c["name"] for c in classes])
                method = json.loads((job_dir / "model" / "model.json").read_text())["method"]["name"] + ", warm start"
                rows.append((name, method, wall, result["miou"]))
                print(f"{name}: {method}, {wall:.0f} s, mIoU {100 * result['miou']:.1f}", flush=True)
                continue
        unscribbled = np.where(labels == 255, truth[0], 255).astype(np.uint8)
        result = scores(confusion(unscribbled, pred, len(classes)), [c["name"] for c in classes])
        method = json.loads((job_dir / "model" / "model.json").read_text())["method"]["name"]
        rows.append((name, method, wall, result["miou"]))
        print(f"{name}: {method}, {wall:.0f} s, mIoU {100 * result['miou']:.1f}", flush=True)
    with rasterio.open(image) as ds:
        size = f"{ds.width} x {ds.height}"
    print(f"\n{image.name} ({size} px), {100 * (labels != 255).mean():.2f} % scribbled\n")
    print("| job (dock button) | method | wall-clock to the map, s | mIoU on unscribbled pixels % |")
    print("|---|---|---|---|")
    for name, method, wall, miou in rows:
        button = {"quick": "Quick map", "default": "Train", "again": "Train again + visible 1000 x 1000"}[name]
        print(f"| {button} | {method} | {wall:.0f} | {100 * miou:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
