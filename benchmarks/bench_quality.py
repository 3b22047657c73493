"""Quality of every single-domain training method on real data with sparse labels (issue 3).

For each data set, labels are made sparse the way users label (strokes and small blobs inside
class regions, ~1 % or ~5 % of the pixels) from the dense masks of the TRAINING images only;
the other images of the set are given to the job as unlabeled rasters; dense mIoU is measured
on images never used for labels. Every method runs with its defaults (job.json `method` has
only `name`), with the same network, steps, windows, augmentation and seeds; gains over
supervised are paired per seed (same scribbles, same seed). The ceiling is the same network
trained on the full dense labels of the training images.

Splits (fixed, chosen before any run from class presence only):
  aerial-dubai      labels from tiles t1-t3 (27 images); unlabeled + evaluation: tiles t4, t5
                    (18 images; a fixed crop of each is scored).
  seismic-tgs-salt  labels from mosaics 00, 01; unlabeled + evaluation: mosaics 02, 03
                    (fixed patch-aligned crops are scored).
  s2-strzegom       the analysts' real sparse masks of 2021-06-19 .. 2022-10-12 (4 dates);
                    unlabeled: 2023-02-09 and 2023-03-01; evaluation: the mask of 2023-02-09.
  s2-strzegom:space the same, but only the labels west of column 190 train and only the
                    February mask east of column 210 is scored: new ground as well as a new date.
The evaluation images are also unlabeled inputs (transductive, as in the plugin: the user
scribbles on some rasters and maps the others); their labels are never read before scoring.
Any choice (e.g. a method default) must use the engine's validation blocks, which are held
out of the TRAINING labels (`val_miou` in the results), never the evaluation images.

Usage:
  .venv/bin/python benchmarks/bench_quality.py [--config cpu|cpu-long|gpu] [--datasets ...] [--budgets 0.01 0.05]
      [--methods ...] [--seeds 0 1 2] [--ceiling] [--results FILE] [--report-only]
Results are appended run by run to --results (JSON; a run already there is skipped), and a
markdown table is printed at the end. Skips (exit 0, message) when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_WORK = ROOT / "bench-output" / "quality"
METHODS = ["pixel_forest", "supervised", "aux", "s6", "cct", "mean_teacher"]
# Methods that train no network: the job names no model for them, and their steps and tiles are not the config's.
PIXEL_CLASSIFIERS = {"pixel_forest"}

# Per-run settings. CPU: what fits ~3 min per run on 2 cores; GPU: closer to the papers.
CONFIGS = {
    # The CPU configurations train in float32 whatever the CPU (train.precision "auto" would pick
    # bfloat16 on some), so runs from different machines and dates stay comparable.
    "cpu": dict(arch="linknet", tile=96, batch=4, steps=300, lr=1e-3, precision="32", crop={"aerial-dubai": 320, "seismic-tgs-salt": 606, "s2-strzegom": None}, threads=1),
    "gpu": dict(arch="unet", tile=256, batch=8, steps=4000, lr=1e-3, precision="auto", crop={"aerial-dubai": None, "seismic-tgs-salt": None, "s2-strzegom": None}, threads=None),
}

# At 300 steps the network is limited by optimisation, not by labels (dense labels barely beat
# 1 % scribbles, docs/benchmarks.md); 1200 steps is where the label gap opens on CPU.
CONFIGS["cpu-long"] = dict(CONFIGS["cpu"], steps=1200, crop=dict(CONFIGS["cpu"]["crop"]))

SPLITS = {
    "aerial-dubai": dict(train=lambda n: n.split("_")[1] in ("t1", "t2", "t3"), eval=lambda n: n.split("_")[1] in ("t4", "t5")),
    "seismic-tgs-salt": dict(train=lambda n: n.endswith(("_00.tif", "_01.tif")), eval=lambda n: n.endswith(("_02.tif", "_03.tif"))),
    "s2-strzegom": dict(
        train=lambda n: n.split("_")[1][:8] in ("20210619", "20220619", "20220719", "20221012"),
        eval=lambda n: n.split("_")[1][:8] == "20230209",
        unlabeled_extra=lambda n: n.split("_")[1][:8] == "20230301",
    ),
}
# Development splits: inside the TRAINING images only (the held-out images above are never
# touched), one part labelled and another scored, the same way. Method defaults are chosen on
# these, never on the evaluation images.
SPLITS["aerial-dubai:dev"] = dict(train=lambda n: n.split("_")[1] in ("t1", "t2"), eval=lambda n: n.split("_")[1] == "t3")
SPLITS["seismic-tgs-salt:dev"] = dict(train=lambda n: n.endswith("_00.tif"), eval=lambda n: n.endswith("_01.tif"))
SPLITS["s2-strzegom:dev"] = dict(
    train=lambda n: n.split("_")[1][:8] in ("20210619", "20220619", "20220719"), eval=lambda n: n.split("_")[1][:8] == "20221012"
)
# s2-strzegom scores known fields on a new date (the analysts labelled the same places on every
# date). This split hides the east of the scene on every date: labels west of column 190 train,
# the February mask east of column 210 is scored (both halves hold every labelled class).
SPLITS["s2-strzegom:space"] = dict(SPLITS["s2-strzegom"], train_cols=(0, 190), eval_cols=(210, None))
for _cfg in CONFIGS.values():
    _cfg["crop"]["s2-strzegom:dev"] = _cfg["crop"]["s2-strzegom:space"] = None
for _name in ("aerial-dubai", "seismic-tgs-salt"):
    for _cpu in ("cpu", "cpu-long"):
        CONFIGS[_cpu]["crop"][_name + ":dev"] = {"aerial-dubai": 320, "seismic-tgs-salt": 1010}[_name]  # one eval mosaic: a bigger crop
    CONFIGS["gpu"]["crop"][_name + ":dev"] = CONFIGS["gpu"]["crop"][_name]
PATCH = 101  # seismic mosaics are grids of unrelated 101 px patches: crop on the grid


# ----------------------------------------------------------------------------- sparse labels

def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    from semiseg.demo.scribbles import erode

    return erode(mask, radius)


def _burn_path(out: np.ndarray, truth_class: int, path: list[tuple[int, int]], half: int) -> None:
    """Burn a polyline `2 * half + 1` px wide (its points lie in the class interior, `half` < margin)."""
    h, w = out.shape
    for (r0, c0), (r1, c1) in zip(path[:-1], path[1:]):
        n = max(abs(r1 - r0), abs(c1 - c0), 1)
        for t in np.linspace(0, 1, n + 1):
            r, c = int(round(r0 + t * (r1 - r0))), int(round(c0 + t * (c1 - c0)))
            out[max(0, r - half) : min(h, r + half + 1), max(0, c - half) : min(w, c + half + 1)] = truth_class


def sparse_labels(truth: np.ndarray, fraction: float, rng: np.random.Generator, margin: int = 4, stroke_length: int = 48, blob_radius: int = 4) -> np.ndarray:
    """Strokes (3 px wide, ~48 px long) and small disks well inside each class's regions until
    `fraction` of the labelled pixels of `truth` carry a label; 255 elsewhere.

    Classes are visited in proportion to the square root of their area (users scribble every
    class they see, big ones more); 4 strokes for 1 blob. Every burned pixel lies at least
    `margin - 1` px inside its class, so each label equals the dense truth.
    """
    out = np.full(truth.shape, 255, np.uint8)
    valid = truth != 255
    target = fraction * valid.sum()
    interiors, candidates, weights = {}, {}, {}
    for c in (int(v) for v in np.unique(truth[valid])):
        inside = _erode(truth == c, margin)
        cand = np.argwhere(inside)
        if len(cand):
            interiors[c], candidates[c], weights[c] = inside, cand, np.sqrt((truth == c).sum())
    if not interiors:
        return out
    classes = sorted(interiors)
    p = np.array([weights[c] for c in classes], float)
    p /= p.sum()
    from semiseg.demo.scribbles import random_stroke

    labelled, tries = 0, 0
    while labelled < target and tries < 20000:
        tries += 1
        c = classes[int(rng.choice(len(classes), p=p))]
        cand = candidates[c]
        r, col = cand[int(rng.integers(len(cand)))]
        if rng.random() < 0.8:
            path = random_stroke(rng, interiors[c], (int(r), int(col)), stroke_length)
            if len(path) < 2:
                continue
            _burn_path(out, c, path, 1)
        else:
            rr, cc = np.ogrid[-blob_radius : blob_radius + 1, -blob_radius : blob_radius + 1]
            disk = rr**2 + cc**2 <= blob_radius**2
            r0, c0 = int(r) - blob_radius, int(col) - blob_radius
            sub = out[max(0, r0) : r0 + 2 * blob_radius + 1, max(0, c0) : c0 + 2 * blob_radius + 1]
            d = disk[max(0, -r0) : max(0, -r0) + sub.shape[0], max(0, -c0) : max(0, -c0) + sub.shape[1]]
            sub[d] = c
        labelled = int((out != 255).sum())
    # The margin keeps every burned pixel inside its class; make sure (a wrong label would be a bug here).
    bad = (out != 255) & (out != truth)
    out[bad] = 255
    return out


# ----------------------------------------------------------------------------- data sets

def _read(path: Path):
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read(), ds.profile


def _write(path: Path, data: np.ndarray, profile: dict, nodata=None) -> None:
    import rasterio

    prof = dict(profile)
    prof.update(driver="GTiff", count=data.shape[0], dtype=data.dtype.name, compress="deflate")
    prof.pop("blockxsize", None), prof.pop("blockysize", None), prof.pop("tiled", None)
    if nodata is not None:
        prof["nodata"] = nodata
    tmp = path.with_suffix(f".part{os.getpid()}.tif")  # benchmarks side by side may prepare the same file
    with rasterio.open(tmp, "w", **prof) as ds:
        ds.write(data)
    os.replace(tmp, path)


def _crop_window(name: str, shape: tuple[int, int], size: int | None, dataset: str) -> tuple[int, int, int, int]:
    """(row, col, h, w) of the fixed evaluation crop of an image (seeded by its name, not by results)."""
    h, w = shape
    if size is None or (h <= size and w <= size):
        return 0, 0, h, w
    rng = np.random.default_rng(sum(name.encode()))
    if dataset.startswith("seismic-tgs-salt"):
        cells = size // PATCH
        r = int(rng.integers(0, h // PATCH - cells + 1)) * PATCH
        c = int(rng.integers(0, w // PATCH - cells + 1)) * PATCH
        return r, c, cells * PATCH, cells * PATCH
    r, c = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return r, c, min(size, h), min(size, w)


def prepare_dataset(data: Path, dataset: str, work: Path, budget: float | str, seed: int, crop: int | None) -> dict:
    """Label rasters for the training images, evaluation crops and their truth; returns the parts of a job."""
    src = data / dataset.split(":")[0]
    split = SPLITS[dataset]
    classes = json.loads((src / "classes.json").read_text())
    images = sorted(p for p in (src / "images").glob("*.tif"))
    folder = work / "data" / dataset.replace(":", "_")
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    (folder / "eval").mkdir(parents=True, exist_ok=True)

    labeled, stats = [], {"labelled_px": 0, "valid_px": 0}
    tag = budget if isinstance(budget, str) else f"{budget:g}"
    for img in images:
        if not split["train"](img.name):
            continue
        truth_path = src / "labels" / img.name
        if budget == "real":  # the analysts' sparse masks as they are, or only their columns `train_cols`
            labels_path = truth_path
            t, profile = _read(truth_path)
            if "train_cols" in split:
                c0, c1 = split["train_cols"]
                t[:, :, :c0], t[:, :, c1:] = 255, 255
                labels_path = folder / "labels" / f"{img.stem}_real_cols{c0}-{c1}.tif"
                if not labels_path.exists():
                    _write(labels_path, t, profile, nodata=255)
            stats["labelled_px"] += int((t != 255).sum())
            stats["valid_px"] += int(t.size)
        else:
            labels_path = folder / "labels" / f"{img.stem}_{tag}_s{seed}.tif"
            truth, profile = _read(truth_path)
            truth = truth[0]
            if budget == "dense":
                labels = truth
            else:
                labels = sparse_labels(truth, float(budget), np.random.default_rng([seed, sum(img.name.encode())]))
            if not labels_path.exists():
                _write(labels_path, labels[None].astype(np.uint8), profile, nodata=255)
            stats["labelled_px"] += int((labels != 255).sum())
            stats["valid_px"] += int((truth != 255).sum())
        labeled.append({"raster": str(img), "labels": str(labels_path)})

    unlabeled, evaluation = [], []
    for img in images:
        is_eval = split["eval"](img.name)
        if is_eval or split.get("unlabeled_extra", lambda n: False)(img.name):
            unlabeled.append(str(img))
        if not is_eval:
            continue
        image, profile = _read(img)
        r, c, h, w = _crop_window(img.name, image.shape[1:], crop, dataset)
        name = f"{img.stem}_crop{crop}"
        if "eval_cols" in split:
            c0, c1 = split["eval_cols"]
            c, w = c0, (c1 or image.shape[2]) - c0
            name += f"_cols{c}-{c + w}"
        crop_img, crop_truth = folder / "eval" / f"{name}.tif", folder / "eval" / f"{name}_truth.tif"
        if not crop_truth.exists():
            from rasterio.windows import Window, transform as window_transform

            prof = dict(profile, width=w, height=h)
            if profile.get("transform") is not None and profile.get("crs") is not None:
                prof["transform"] = window_transform(Window(c, r, w, h), profile["transform"])
            _write(crop_img, image[:, r : r + h, c : c + w], prof)
            truth, tprof = _read(src / "labels" / img.name)
            _write(crop_truth, truth[:, r : r + h, c : c + w], dict(prof, count=1, dtype="uint8"), nodata=255)
        evaluation.append({"image": str(crop_img), "truth": str(crop_truth)})
    stats["fraction"] = stats["labelled_px"] / max(1, stats["valid_px"])
    return {"classes": classes, "labeled": labeled, "unlabeled": unlabeled, "evaluation": evaluation, "label_stats": stats}


# ----------------------------------------------------------------------------- one run

def run_parts(dataset: str, seed: int, config: str, work: Path = DEFAULT_WORK) -> dict:
    """The parts a finished run of `dataset` and `seed` was trained and scored on (its scribbles
    at the tables' budget: the real masks for s2-strzegom, 1 % elsewhere), for the scripts that
    score saved runs again (blend_scores.py, tta_scores.py)."""
    budget = "real" if dataset.startswith("s2-strzegom") else 0.01
    return prepare_dataset(DEFAULT_DATA, dataset, work, budget, seed, CONFIGS[config]["crop"][dataset])


def run_one(parts: dict, method: str, params: dict, seed: int, cfg: dict, job_dir: Path, device: str, init_from: Path | None = None, train: dict | None = None) -> dict:
    from semiseg.cli import main as semiseg
    from semiseg.jobs.events import read_events
    from semiseg.metrics import scores

    if job_dir.exists():
        shutil.rmtree(job_dir)
    job_dir.mkdir(parents=True)
    job = {
        "version": 1,
        "classes": parts["classes"],
        "labeled": parts["labeled"],
        "unlabeled": parts["unlabeled"],
        "method": {"name": method, **params},
        **({} if method in PIXEL_CLASSIFIERS else {"model": {"arch": cfg["arch"], "encoder": "resnet18", "encoder_weights": None if init_from else cfg.get("encoder_weights"),
                                                              "init_from": str(init_from) if init_from else None}}),
        "train": {"steps": cfg["steps"], "batch_size": cfg["batch"], "tile_size": cfg["tile"], "lr": cfg["lr"], "seed": seed, "checkpoint_every": 10**9,
                  "precision": cfg["precision"], **(train or {})},
    }
    (job_dir / "job.json").write_text(json.dumps(job, indent=1))
    start = time.time()
    code = semiseg(["train", str(job_dir), "--quiet", "--device", device])
    wall = time.time() - start
    if code != 0:
        raise RuntimeError(f"{job_dir}: semiseg train exited {code}; see {job_dir / 'log.txt'}")

    events = read_events(job_dir)
    progress = {e["step"]: e["elapsed_s"] for e in events if e["type"] == "progress"}
    steps = sorted(progress)
    skip = steps[min(len(steps) - 1, max(1, len(steps) // 10))]  # leave the first steps (start-up) out
    sec_per_step = (progress[steps[-1]] - progress[skip]) / max(1, steps[-1] - skip)
    metrics = json.loads((job_dir / "metrics.json").read_text())["validation"]

    names = [c["name"] for c in parts["classes"]]
    result = scores(score_model(job_dir / "model", parts["evaluation"], device), names)
    shutil.rmtree(job_dir / "checkpoints", ignore_errors=True)
    shutil.rmtree(job_dir / "outputs", ignore_errors=True)
    return {
        "miou": result["miou"],
        "oa": result["oa"],
        "per_class_iou": result["per_class_iou"],
        "eval_pixels": result["pixels"],
        "val_miou": metrics.get("miou"),
        "sec_per_step": sec_per_step,
        "wall_s": wall,
    }


def score_model(model_dir: Path, evaluation: list[dict], device: str, tta: bool = False) -> np.ndarray:
    """Confusion matrix of the exported model over the evaluation images.

    Each evaluation image (a crop) goes through the network in ONE forward pass (padded to a
    multiple of 32 with nodata), i.e. with all the context the crop has and no window seams:
    cheaper than `semiseg predict` with overlapping windows, and the same for every method.
    `tta`: the probabilities averaged over the crop's 8 orientations, as `inference.tta` does
    for each window (benchmarks/tta_scores.py).
    """
    import rasterio
    import torch
    from rasterio.windows import Window

    from semiseg.io.rasters import read_window
    from semiseg.metrics import confusion
    from semiseg.models.forest import class_logits
    from semiseg.models.package import load_package
    from semiseg.devices import resolve_device
    from semiseg.predict.raster import DIHEDRAL, _turned, _unturned

    card, network = load_package(model_dir)
    dev = resolve_device(device)
    network = network.to(dev).eval()
    n = card.num_classes
    matrix = np.zeros((n, n), np.int64)
    for e in evaluation:
        with rasterio.open(e["image"]) as ds:
            h, w = ds.height, ds.width
            hp, wp = -(-h // 32) * 32, -(-w // 32) * 32
            image, valid = read_window(ds, Window(0, 0, wp, hp), card.bands)
        x = torch.from_numpy((card.stats.apply(image) * valid).astype(np.float32))[None].to(dev)
        mask = torch.from_numpy(valid)[None].to(dev)
        total = 0
        for turns, flip in DIHEDRAL if tta else DIHEDRAL[:1]:
            with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                logits = class_logits(network, _turned(x, turns, flip), _turned(mask, turns, flip))
            total = total + _unturned(logits.float().softmax(1), turns, flip)
        pred = total.argmax(1)[0].cpu().numpy().astype(np.uint8)
        pred[~valid] = 255
        with rasterio.open(e["truth"]) as ds:
            truth = ds.read(1)
        matrix += confusion(truth, pred[:h, :w], n)
    return matrix


# ----------------------------------------------------------------------------- report

def _key(r: dict) -> tuple:
    return (r["config"], r["dataset"], str(r["budget"]), r["method"], r.get("tag", ""), r["seed"])


def summarise(runs: list[dict]) -> str:
    lines = []
    groups: dict[tuple, dict] = {}
    for r in runs:
        groups.setdefault((r["config"], r["dataset"], str(r["budget"])), {}).setdefault((r["method"], r.get("tag", "")), {})[r["seed"]] = r
    order = {m: i for i, m in enumerate(METHODS)}
    for (config, dataset, budget), methods in sorted(groups.items()):
        sup = methods.get(("supervised", ""), {})
        sup_cost = np.mean([r["sec_per_step"] for r in sup.values()]) if sup else None
        frac = np.mean([r["label_fraction"] for m in methods.values() for r in m.values()])
        if budget == "dense" and any(b != "dense" for (c, d, b) in groups if (c, d) == (config, dataset)):
            continue  # shown as the last row of the sparse tables
        lines.append(f"\n### {dataset}, labels: {budget} (labelled {100 * frac:.2f} % of training pixels), config {config}\n")
        lines.append("| method | seeds | mIoU (eval) % | gain vs supervised (paired) | val mIoU % | OA % | step cost vs supervised | s/step | wall-clock per run, s |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        rows = sorted(methods.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1]))
        dense = groups.get((config, dataset, "dense"), {}).get(("supervised", ""))
        if budget != "dense" and dense:  # the ceiling, paired with supervised on the same seed
            rows.append((("ceiling: supervised on dense labels", ""), dense))
        for (method, tag), seeds in rows:
            miou = np.array([seeds[s]["miou"] for s in sorted(seeds)]) * 100
            oa = np.array([seeds[s]["oa"] for s in sorted(seeds)]) * 100
            val = np.array([seeds[s]["val_miou"] or np.nan for s in sorted(seeds)]) * 100
            paired = [100 * (seeds[s]["miou"] - sup[s]["miou"]) for s in sorted(seeds) if s in sup]
            gain = "—" if method == "supervised" and not tag else (f"{np.mean(paired):+.1f} ± {np.std(paired, ddof=1) if len(paired) > 1 else 0:.1f} (n={len(paired)})" if paired else "n/a")
            cost = np.mean([r["sec_per_step"] for r in seeds.values()])
            rel = f"{cost / sup_cost:.2f}x" if sup_cost else "n/a"
            if method.startswith("ceiling"):
                val = np.array([np.nan])  # scored on dense blocks: not comparable with the sparse ones
            name = method + (f" [{tag}]" if tag else "")
            sd = lambda a: np.std(a, ddof=1) if len(a) > 1 else 0.0  # noqa: E731
            val_txt = "—" if np.isnan(val).all() else f"{np.nanmean(val):.1f} ± {sd(val):.1f}"
            no_steps = method.startswith("ceiling") or method in PIXEL_CLASSIFIERS  # a forest's "steps" are trees
            rel = "—" if no_steps else rel
            cost_txt = "—" if method in PIXEL_CLASSIFIERS else f"{cost:.2f}"
            wall = np.mean([r["wall_s"] for r in seeds.values()])
            lines.append(f"| {name} | {len(miou)} | {miou.mean():.1f} ± {sd(miou):.1f} | {gain} | {val_txt} | {oa.mean():.1f} | {rel} | {cost_txt} | {wall:.0f} |")
    return "\n".join(lines)


def _resolved(method: str, params: dict) -> dict:
    """Every parameter of the method as it ran, defaults included (defaults may change later)."""
    from semiseg.train.methods import METHODS

    return METHODS[method].Params.model_validate(params).model_dump(mode="json", by_alias=True)


def _commit() -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "engine/src/semiseg"], capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text())["runs"] if path.exists() else []


def _append(path: Path, record: dict) -> list[dict]:
    """Add one run to the results file as it is NOW, under a lock: benchmarks running side by
    side each append their own runs instead of overwriting each other's with a stale list."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs = _load(path) + [record]
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps({"runs": runs}, indent=1))
        os.replace(tmp, path)
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="job folders and derived rasters")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "quality" / "results.json")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    ap.add_argument("--datasets", nargs="+", default=["aerial-dubai", "seismic-tgs-salt"], choices=sorted(SPLITS))
    ap.add_argument("--budgets", nargs="+", default=["0.01"], help="label fractions, e.g. 0.01 0.05 (s2-strzegom always uses its real masks)")
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--ceiling", action="store_true", help="also supervised on the dense labels of the training images")
    ap.add_argument("--params", default="{}", help='JSON method parameters for a controlled experiment, e.g. {"alpha": 0.5} (needs --tag)')
    ap.add_argument("--train", default="{}", help='JSON train options for a controlled experiment, e.g. {"unlabeled_windows": "unlabeled_rasters"} (needs --tag)')
    ap.add_argument("--tag", default="", help="name of a non-default experiment (kept apart from the defaults in the table)")
    ap.add_argument("--arch", help="model.arch of every run (default: the config's)")
    ap.add_argument("--steps", type=int), ap.add_argument("--tile", type=int), ap.add_argument("--batch", type=int), ap.add_argument("--lr", type=float)
    ap.add_argument("--encoder-weights", type=Path, help="model.encoder_weights of every network run: a pretrained encoder file (`semiseg weights resnet18 --out FILE`)")
    ap.add_argument("--precision", choices=["32", "bf16"], help="train.precision of every run (default: the config's, float32 for cpu and cpu-long)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    params, train = json.loads(args.params), json.loads(args.train)
    if (params or train) and not args.tag:
        ap.error("--params and --train need --tag: default and non-default runs must not mix")

    runs = _load(args.results)
    if args.report_only:
        print(summarise(runs))
        return 0
    if not args.data.is_dir():
        print(f"bench_quality: skipped: no real data at {args.data} (see ../shared/data/README.md)")
        return 0

    cfg = dict(CONFIGS[args.config])
    for k in ("arch", "steps", "tile", "batch", "lr", "precision"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)
    # Overrides are part of the name, so runs pair only with runs of the same settings.
    config_name = args.config + "".join(f"+{k}={getattr(args, k)}" for k in ("arch", "steps", "tile", "batch", "lr", "precision") if getattr(args, k) is not None)
    if args.encoder_weights:
        cfg["encoder_weights"] = str(args.encoder_weights.resolve())
        config_name += f"+encoder_weights={args.encoder_weights.name}"
    if cfg["threads"]:
        # One thread per training: on a shared 2-core machine, 2 OpenMP threads beside any other
        # busy process spin at every barrier (measured 10x slower per step than 1 thread).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch

        torch.set_num_threads(cfg["threads"])
    done = {_key(r) for r in runs}
    if args.tag and any(r.get("tag") == args.tag and (r.get("params", {}), r.get("train", {})) != (params, train) for r in runs):
        ap.error(f"--tag {args.tag} already names runs with other --params or --train in {args.results}; pick a new tag")
    from semiseg.devices import resolve_device

    device = str(resolve_device(args.device))  # recorded: the same config on a GPU and on a CPU is not the same run

    plan = []
    for dataset in args.datasets:
        budgets = ["real"] if dataset.startswith("s2-strzegom") else args.budgets
        for budget in budgets:
            for seed in args.seeds:
                for method in args.methods:
                    plan.append((dataset, budget, method, seed))
        if args.ceiling and not dataset.startswith("s2-strzegom"):
            plan += [(dataset, "dense", "supervised", seed) for seed in args.seeds]
    total_start = time.time()
    for dataset, budget, method, seed in plan:
        b = budget if budget in ("real", "dense") else f"{float(budget):g}"
        record = {"config": config_name, "dataset": dataset, "budget": b, "method": method, "tag": args.tag, "seed": seed}
        if _key(record) in done:
            continue
        parts = prepare_dataset(args.data, dataset, args.work, b if b in ("real", "dense") else float(b), seed, cfg["crop"][dataset])
        job_dir = args.work / "runs" / f"{dataset.replace(':', '_')}_{b}_{method}{'_' + args.tag if args.tag else ''}_s{seed}"
        print(f"[{time.time() - total_start:7.0f}s] {dataset} {b} {method} {args.tag} seed {seed} ...", flush=True)
        commit = _commit()  # before the run: the tree may move on while it trains
        out = run_one(parts, method, params, seed, cfg, job_dir, args.device, train=train)
        record.update(out, params=params, train=train, resolved_params=_resolved(method, params), engine_commit=commit, device=device, label_fraction=parts["label_stats"]["fraction"],
                      settings={k: cfg[k] for k in ("arch", "tile", "batch", "steps", "lr", "precision")}, crop=cfg["crop"][dataset])
        print(f"          mIoU {100 * out['miou']:.1f}  val {100 * (out['val_miou'] or 0):.1f}  {out['sec_per_step']:.2f} s/step  {out['wall_s']:.0f} s", flush=True)
        runs = _append(args.results, record)
    print(summarise([r for r in runs if r["config"] == config_name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
