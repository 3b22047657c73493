"""What test-time augmentation (`inference.tta`) changes: finished runs scored with and without it.

Each run of bench_quality.py's work folder (bench-output/quality/runs/RUN/model) is scored on
its data set's evaluation crops twice, by bench_quality.score_model: once as its tables score
it, once with the probabilities averaged over the crop's 8 orientations (4 quarter turns,
flipped or not; engine/src/semiseg/predict/raster.py DIHEDRAL). Same model, same crops, one
run after the other, so the time ratio is the cost of the option.

Usage: .venv/bin/python benchmarks/tta_scores.py DATASET RUN [RUN ...] [--config cpu-long]
  e.g. aerial-dubai aerial-dubai_0.01_mean_teacher_s0 aerial-dubai_0.01_mean_teacher_s1
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import CONFIGS, DEFAULT_DATA, DEFAULT_WORK, run_parts, score_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("runs", nargs="+", help="folder names under bench-output/quality/runs/")
    ap.add_argument("--config", default="cpu-long", choices=sorted(CONFIGS))
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = ap.parse_args(argv)
    if not DEFAULT_DATA.is_dir():
        print(f"tta_scores: skipped: no real data at {DEFAULT_DATA}")
        return 0
    import torch

    from semiseg.metrics import scores

    torch.set_num_threads(1)
    print("| run | mIoU % | with tta % | gain | time with / without tta |")
    print("|---|---|---|---|---|")
    gains = []
    for run in args.runs:
        seed = int(re.search(r"_s(\d+)$", run).group(1))  # the run's scribbles and crops
        parts = run_parts(args.dataset, seed, args.config, args.work)
        names = [c["name"] for c in parts["classes"]]
        model = args.work / "runs" / run / "model"
        seconds, mious = [], []
        for tta in (False, True):
            start = time.perf_counter()
            mious.append(100 * scores(score_model(model, parts["evaluation"], "cpu", tta), names)["miou"])
            seconds.append(time.perf_counter() - start)
        gains.append(mious[1] - mious[0])
        print(f"| {run} | {mious[0]:.1f} | {mious[1]:.1f} | {gains[-1]:+.1f} | {seconds[1] / seconds[0]:.1f}x |", flush=True)
    print(f"\nmean gain {np.mean(gains):+.1f} ± {np.std(gains):.1f} (n={len(gains)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
