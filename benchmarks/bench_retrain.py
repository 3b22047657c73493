"""Training again after adding labels: from the last model (model.init_from) or from scratch.

The loop users run: label, train, look where the map is wrong, add labels there, train again.
Round 1 trains on ~1 % scribbles of a development split; round 2 adds the scribbles of another
draw (~2 % in all) and trains (a) from the round-1 model for a quarter of the steps, (a') the
same at a tenth of the learning rate (fine-tuning), (b) from scratch for the same quarter,
(c) from scratch for the full steps. Scored like bench_quality
(dense mIoU on the split's held-out images, which are never labelled).

Usage:
  .venv/bin/python benchmarks/bench_retrain.py [--dataset aerial-dubai:dev] [--config cpu-long] [--seed 0]
Prints a markdown table. Skips (exit 0, message) when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import CONFIGS, DEFAULT_DATA, ROOT, SPLITS, _read, _write, prepare_dataset, run_one  # noqa: E402


def union_labels(first: list[dict], second: list[dict], folder: Path) -> tuple[list[dict], float]:
    """Per training image, the labels of `first` plus those of `second` where `first` has none;
    also how many times more pixels that labels than `first`."""
    folder.mkdir(parents=True, exist_ok=True)
    merged, before, after = [], 0, 0
    for a, b in zip(first, second):
        assert a["raster"] == b["raster"]
        la, profile = _read(Path(a["labels"]))
        lb, _ = _read(Path(b["labels"]))
        both = np.where(la != 255, la, lb).astype(np.uint8)
        before, after = before + int((la != 255).sum()), after + int((both != 255).sum())
        path = folder / Path(a["labels"]).name.replace(".tif", "_plus.tif")
        _write(path, both, profile, nodata=255)
        merged.append({"raster": a["raster"], "labels": str(path)})
    return merged, after / max(1, before)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--work", type=Path, default=ROOT / "bench-output" / "retrain")
    ap.add_argument("--dataset", default="aerial-dubai:dev", choices=sorted(k for k in SPLITS if k.endswith(":dev")))
    ap.add_argument("--config", default="cpu-long", choices=sorted(CONFIGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"bench_retrain: skipped: no real data at {args.data} (see ../shared/data/README.md)")
        return 0
    cfg = dict(CONFIGS[args.config])
    if cfg["threads"]:
        import torch

        torch.set_num_threads(cfg["threads"])
    crop = cfg["crop"][args.dataset]
    round1 = prepare_dataset(args.data, args.dataset, args.work, 0.01, args.seed, crop)
    extra = prepare_dataset(args.data, args.dataset, args.work, 0.01, args.seed + 1000, crop)
    merged, growth = union_labels(round1["labeled"], extra["labeled"], args.work / "labels_round2")
    stats = dict(round1["label_stats"], fraction=round1["label_stats"]["fraction"] * growth)
    round2 = dict(round1, labeled=merged, label_stats=stats)
    full, quarter = cfg["steps"], max(1, cfg["steps"] // 4)
    first = "round 1: scratch, ~1 % labels"
    runs = [  # name, labels, steps, learning-rate factor, starting model
        (first, round1, full, 1.0, None),
        ("round 2: from the round-1 model, ~2 % labels", round2, quarter, 1.0, first),
        ("round 2: from the round-1 model, ~2 % labels, lr / 10", round2, quarter, 0.1, first),
        ("round 2: scratch, ~2 % labels", round2, quarter, 1.0, None),
        ("round 2: scratch, ~2 % labels, full steps", round2, full, 1.0, None),
    ]
    rows, models = [], {}
    for i, (name, parts, steps, lr_factor, start) in enumerate(runs):
        job_dir = args.work / "runs" / f"{args.dataset.replace(':', '_')}_s{args.seed}_{i}"
        print(f"{name}: {steps} steps ...", flush=True)
        t0 = time.time()
        out = run_one(parts, "supervised", {}, args.seed, dict(cfg, steps=steps, lr=cfg["lr"] * lr_factor), job_dir, args.device, init_from=models.get(start))
        models[name] = job_dir / "model"
        rows.append((name, steps, 100 * out["miou"], 100 * (out["val_miou"] or 0), time.time() - t0))
    labelled = [100 * p["label_stats"]["fraction"] for p in (round1, round2)]
    print(f"\n{args.dataset}, {args.config} ({cfg['arch']}, tile {cfg['tile']}, batch {cfg['batch']}), seed {args.seed}; "
          f"labelled: round 1 {labelled[0]:.2f} %, round 2 {labelled[1]:.2f} %\n")
    print("| run | steps | mIoU (held-out image) % | val mIoU (held-out label blocks) % | wall s |\n|---|---|---|---|---|")
    for name, steps, miou, val, wall in rows:
        print(f"| {name} | {steps} | {miou:.1f} | {val:.1f} | {wall:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
