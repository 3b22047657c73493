"""How the gate picks the forest's weight: rules compared on the same finished runs.

The default method exports p = (1 - w) p_network + w p_forest at the w whose blend scores best
on the validation blocks held out of the scribbles (engine/src/semiseg/pipeline/runner.py). The
export event of each run holds every weight's validation mIoU (`validation_miou`); the network
inside the package and the pixel-forest run of the same scribbles and seed give every weight's
mIoU on the evaluation crops (blend_scores.py). So each rule's choice, and what the map it picks
scores, comes from the same two models: no run is trained again per rule.

Rules (v(w): the validation blocks' mIoU at w):
  network-tie   the best v, a tie to the smallest w (the network): the engine's rule until now
  even-tie      the best v, a tie to the w nearest 0.5 (the even blend of two models that err
                differently, when the validation blocks cannot tell them apart)
  even-margin   0.5 unless the best v beats v(0.5) by more than MARGIN, then even-tie's choice
and, as references no rule can reach, fixed weights and the best w on the evaluation crops.

Usage: .venv/bin/python benchmarks/gate_rules.py [--datasets aerial-dubai:dev seismic-tgs-salt:dev]
    [--seeds 0 1 2] [--tag TAG]   (runs: bench_quality.py --methods pixel_forest mean_teacher)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import CONFIGS, DEFAULT_DATA, DEFAULT_WORK, run_parts  # noqa: E402
from blend_scores import blend_mious, class_probabilities, evaluation_crops, forest_run  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
MARGIN = 0.01  # validation mIoU (one point) the even blend must lose by before another weight is chosen


def _best(v: dict[float, float], tie_key) -> float:
    top = max(v.values())
    return min((w for w in v if v[w] == top), key=tie_key)


RULES = {
    "network-tie": lambda v: _best(v, lambda w: w),
    "even-tie": lambda v: _best(v, lambda w: (abs(w - 0.5), w)),
    "even-margin": lambda v: _best(v, lambda w: (abs(w - 0.5), w)) if max(v.values()) - v[0.5] > MARGIN else 0.5,
}


def validation_scores(run: Path) -> dict[float, float]:
    """Every weight's validation mIoU, from the run's export event."""
    for line in (run / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if "validation_miou" in event:
            return {float(w): v for w, v in event["validation_miou"].items()}
    raise SystemExit(f"{run}: no gate in its events (a run of an engine before the structured gate event, or not gated)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["aerial-dubai:dev", "seismic-tgs-salt:dev"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--method", default="mean_teacher")
    ap.add_argument("--tag", default="")
    ap.add_argument("--config", default="cpu-long", choices=sorted(CONFIGS))
    ap.add_argument("--json", type=Path, help="also write every run's scores here")
    args = ap.parse_args(argv)
    if not DEFAULT_DATA.is_dir():
        print(f"gate_rules: skipped: no real data at {DEFAULT_DATA}")
        return 0
    import torch

    torch.set_num_threads(1)
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            budget = "real" if dataset.startswith("s2-strzegom") else "0.01"
            run = DEFAULT_WORK / "runs" / f"{dataset.replace(':', '_')}_{budget}_{args.method}{'_' + args.tag if args.tag else ''}_s{seed}"
            parts = run_parts(dataset, seed, args.config)
            images, truths = evaluation_crops(parts)
            _, forest = class_probabilities(forest_run(dataset, seed) / "model", images)
            _, network = class_probabilities(run / "model", images, network_only=True)
            evaluation = blend_mious(network, forest, images, truths, [c["name"] for c in parts["classes"]], list(WEIGHTS))
            rows.append({"dataset": dataset, "seed": seed, "validation": validation_scores(run), "evaluation": evaluation})
            print(f"{dataset} seed {seed}: validation " + " ".join(f"{w:g}:{100 * v:.1f}" for w, v in rows[-1]["validation"].items())
                  + " | evaluation " + " ".join(f"{w:g}:{100 * v:.1f}" for w, v in evaluation.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print("\n| dataset | rule | w chosen (per seed) | mIoU % on the evaluation crops |")
    print("|---|---|---|---|")
    choices = dict(RULES)
    choices.update({f"fixed {w:g}": (lambda v, w=w: w) for w in WEIGHTS})
    for dataset in args.datasets:
        mine = [r for r in rows if r["dataset"] == dataset]
        for name, rule in choices.items():
            picked = [rule(r["validation"]) for r in mine]
            scores = [100 * r["evaluation"][w] for r, w in zip(mine, picked)]
            print(f"| {dataset} | {name} | {' / '.join(f'{w:g}' for w in picked)} | {np.mean(scores):.1f} ± {np.std(scores):.1f} |")
        best = [100 * max(r["evaluation"].values()) for r in mine]
        print(f"| {dataset} | (best w on the evaluation crops) | – | {np.mean(best):.1f} ± {np.std(best):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
