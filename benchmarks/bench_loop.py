"""The labelling loop (issue 29): does labelling where SemiSeg suggests beat labelling at random?

A simulated analyst on a development split (bench_quality's SPLITS; the evaluation images are
never labelled). Round 0: bench_quality's sparse scribbles (`--start` of the pixels) on the
training images, a training of the config's steps. Each later round, every training image gets
BUDGET new labelled pixels (REGIONS regions' worth at FILL of a 32 x 32 cell, the engine's
suggestion cell), scribbled from its dense mask by bench_quality's generator (shorter strokes,
to fit a cell) into the cells one strategy ranks first, cell after cell until the budget is
reached (a cell on a class boundary holds fewer drawable pixels, so a strategy that picks
boundaries takes more cells, never fewer pixels; the last cell's scribbles are cut to the
budget in reading order):
  suggest  the engine's suggestions of the image (predict/suggestions.py: the most doubtful
           cells of the current model's blended probabilities, spread 96 px apart)
  random   as many cells drawn at random among those with labels to draw
  oracle   the cells where the current model's map is most wrong against the dense mask,
           spread the same way (an upper bound no analyst has)
  margin   (asked for by name) suggest without the teacher/student disagreement of a
           mean_teacher package: the margin alone, to measure what the disagreement adds
and the model is trained again warm-started from the last round's model (`--retrain` steps,
as the dock's "Train again" does), by `--method` (supervised unless told; a mean_teacher package
keeps its student, and its suggestions add the teacher/student disagreement to the margin). After each round: mIoU on the split's evaluation images and
the seconds the round took. The strategies share round 0 and add equal labelled pixels per
round (the table prints the labelled pixels each reached, the same unless an image ran out of
cells with labels to draw).

Usage:
  .venv/bin/python benchmarks/bench_loop.py [--datasets aerial-dubai:dev seismic-tgs-salt:dev]
      [--strategies suggest random oracle] [--rounds 5] [--seeds 0 1 2] [--config cpu] [--retrain 100]
Prints a markdown table (mean over seeds). Skips (exit 0, message) when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import CONFIGS, DEFAULT_DATA, ROOT, SPLITS, _read, _write, prepare_dataset, run_one, sparse_labels  # noqa: E402

STRATEGIES = ("suggest", "random", "oracle", "margin")  # the order seeds each strategy's draws: append only
REGIONS = 8  # regions' worth of labels per training image and round
FILL = 0.3  # share of a region's pixels that get a label
BUDGET = int(REGIONS * FILL * 32 * 32)  # new labelled pixels per training image and round
RANKED = 6 * REGIONS  # cells ranked per image: room for boundary cells that hold few drawable pixels


def _cell_scores(model_dir: Path, image: Path, truth: np.ndarray, device: str, second_opinion: bool = True):
    """The model's map of `image` in suggestion cells: (tally of the engine's doubt, each cell's
    share of wrongly mapped labelled pixels, each cell's count of labelled pixels);
    `second_opinion`: the doubt counts the package's teacher/student disagreement, if it has one."""
    from semiseg.predict.raster import load_predictor, predict_strips
    from semiseg.predict.suggestions import DoubtTally

    card, predictor = load_predictor(model_dir, device, 8, second_opinion=second_opinion)
    h, w = truth.shape
    doubt = DoubtTally(h, w, card.num_classes)
    wrong = np.zeros(len(doubt.count))
    known = np.zeros(len(doubt.count))
    for strip in predict_strips(card, predictor, image, 0.25):
        n = min(strip.classes.shape[0], h - strip.top)
        if n <= 0:
            continue
        rows = slice(strip.top, strip.top + n)
        labelled = truth[rows] != 255
        doubt.add(strip.top, strip.probabilities[:, :n, :w], strip.classes[:n, :w] != 255,
                  None if strip.disagreement is None else strip.disagreement[:n, :w])
        r, c = np.nonzero(labelled)
        cell = doubt.grid.index(strip.top + r, c)
        wrong += np.bincount(cell, weights=strip.classes[:n, :w][r, c] != truth[rows][r, c], minlength=len(wrong))
        known += np.bincount(cell, minlength=len(known))
    return doubt, wrong / np.maximum(known, 1), known


def pick_regions(strategy: str, model_dir: Path, image: Path, truth: np.ndarray, rng: np.random.Generator, device: str) -> list[tuple]:
    """(row, col, rows, cols) of the RANKED cells `strategy` labels next on `image`, best first."""
    from semiseg.predict.suggestions import MIN_DISTANCE, MIN_PIXELS

    doubt, error, known = _cell_scores(model_dir, image, truth, device, second_opinion=strategy != "margin")
    grid = doubt.grid
    eligible = np.flatnonzero((known >= MIN_PIXELS) & (doubt.count >= MIN_PIXELS))  # labels to draw there
    if strategy in ("suggest", "margin"):
        score = np.where(doubt.count > 0, doubt.doubt / np.maximum(doubt.count, 1), 0)
        cells = grid.spread(score, eligible, RANKED, MIN_DISTANCE)
    elif strategy == "oracle":
        cells = grid.spread(error, eligible, RANKED, MIN_DISTANCE)
    else:
        cells = [int(c) for c in rng.permutation(eligible)[:RANKED]]
    return [grid.bounds(c) for c in cells]


def add_scribbles(labels: np.ndarray, truth: np.ndarray, regions: list[tuple], rng: np.random.Generator, budget: int = BUDGET) -> np.ndarray:
    """`labels` plus `budget` new labelled pixels from `truth`: scribbles at FILL of each region,
    region after region until the budget is spent (the last region's cut in reading order)."""
    out = labels.copy()
    left = budget
    for row, col, rows, cols in regions:
        if left <= 0:
            break
        inside = np.full(truth.shape, 255, np.uint8)
        inside[row : row + rows, col : col + cols] = truth[row : row + rows, col : col + cols]
        drawn = sparse_labels(inside, FILL, rng, margin=2, stroke_length=16, blob_radius=2)
        new = np.flatnonzero((out == 255) & (drawn != 255))[:left]
        out.flat[new] = drawn.flat[new]
        left -= len(new)
    return out


def run_loop(parts: dict, dataset: str, strategy: str, seed: int, rounds: int, cfg: dict, retrain: dict, work: Path, device: str, first: dict,
             method: tuple[str, dict] = ("supervised", {})) -> list[dict]:
    """Rounds 1.. of one strategy from the shared round 0 (`first`: its model and score), each
    round training `method` (name, parameters)."""
    rng = np.random.default_rng([seed, STRATEGIES.index(strategy)])
    labeled = [dict(e) for e in parts["labeled"]]
    model, records = Path(first["model"]), []
    for round_ in range(1, rounds + 1):
        start = time.time()
        folder = work / "labels" / f"{dataset.replace(':', '_')}_{strategy}_s{seed}_r{round_}"
        folder.mkdir(parents=True, exist_ok=True)
        labelled_px = 0
        for entry in labeled:
            labels, profile = _read(Path(entry["labels"]))
            truth, _ = _read(Path(entry["truth"]))
            regions = pick_regions(strategy, model, Path(entry["raster"]), truth[0], rng, device)
            grown = add_scribbles(labels[0], truth[0], regions, rng)
            entry["labels"] = str(folder / Path(entry["raster"]).name)
            _write(Path(entry["labels"]), grown[None].astype(np.uint8), profile, nodata=255)
            labelled_px += int((grown != 255).sum())
        job_dir = work / "runs" / f"{dataset.replace(':', '_')}_{strategy}_s{seed}_r{round_}"
        round_parts = dict(parts, labeled=[{"raster": e["raster"], "labels": e["labels"]} for e in labeled])
        out = run_one(round_parts, *method, seed, retrain, job_dir, device, init_from=model)
        model = job_dir / "model"
        records.append({"dataset": dataset, "method": method[0], "strategy": strategy, "seed": seed, "round": round_, "miou": out["miou"],
                        "labelled_px": labelled_px, "round_s": time.time() - start})
        print(f"  {dataset} {strategy} seed {seed} round {round_}: mIoU {100 * out['miou']:.1f}, {labelled_px} px, "
              f"{records[-1]['round_s']:.0f} s", flush=True)
    return records


def _mean(values: list[float]) -> str:
    if not values:
        return ""
    return f"{np.mean(values):.1f}" + (f" ± {np.std(values):.1f}" if len(values) > 1 else "")


def summarise(records: list[dict]) -> str:
    """mIoU (%, mean ± std over seeds) after each round, per data set and strategy."""
    rounds = sorted({r["round"] for r in records if r["round"] > 0})
    lines = ["| dataset | strategy | round 0 | " + " | ".join(f"round {k}" for k in rounds) + " | labelled px, last round | s per round |",
             "|---|---|---|" + "---|" * (len(rounds) + 2)]
    for dataset in sorted({r["dataset"] for r in records}):
        start = [100 * r["miou"] for r in records if r["dataset"] == dataset and r["round"] == 0]
        for strategy in STRATEGIES:
            mine = [r for r in records if r["dataset"] == dataset and r["strategy"] == strategy]
            if not mine:
                continue
            cells = [_mean([100 * r["miou"] for r in mine if r["round"] == k]) for k in rounds]
            last = [r["labelled_px"] for r in mine if r["round"] == max(r["round"] for r in mine)]
            lines.append(f"| {dataset} | {strategy} | {_mean(start)} | " + " | ".join(cells) +
                         f" | {np.mean(last):.0f} | {np.mean([r['round_s'] for r in mine]):.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--work", type=Path, default=ROOT / "bench-output" / "loop")
    ap.add_argument("--datasets", nargs="+", default=["aerial-dubai:dev", "seismic-tgs-salt:dev"], choices=sorted(k for k in SPLITS if k.endswith(":dev")))
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES[:3]), choices=STRATEGIES)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--config", default="cpu", choices=sorted(CONFIGS))
    ap.add_argument("--start", type=float, default=0.005, help="round 0's label fraction (default 0.5 %%)")
    ap.add_argument("--retrain", type=int, default=100, help="steps of each warm-started round (default 100)")
    ap.add_argument("--steps", type=int, help="steps of round 0 (default: the config's)")
    ap.add_argument("--retrain-lr", type=float, help="learning rate of the warm-started rounds (default: the config's)")
    ap.add_argument("--method", default="supervised", help="the method every round trains (default supervised; mean_teacher: its "
                    "package keeps the student, whose disagreement with the teacher the suggestions add)")
    ap.add_argument("--params", type=json.loads, default={}, help="the method's parameters as JSON, e.g. '{\"blend_on_validation\": false}'")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--results", type=Path, help="also write every round as JSON here")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"bench_loop: skipped: no real data at {args.data} (see ../shared/data/README.md)")
        return 0
    args.work = args.work.resolve()  # job.json names the label files: absolute, wherever the job runs
    cfg = dict(CONFIGS[args.config], **({"steps": args.steps} if args.steps else {}))
    if cfg["threads"]:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch

        torch.set_num_threads(cfg["threads"])
    retrain = dict(cfg, steps=args.retrain, **({"lr": args.retrain_lr} if args.retrain_lr else {}))
    records = []
    for dataset in args.datasets:
        for seed in args.seeds:
            parts = prepare_dataset(args.data, dataset, args.work, args.start, seed, cfg["crop"][dataset])
            src = args.data / dataset.split(":")[0] / "labels"
            for entry in parts["labeled"]:
                entry["truth"] = str(src / Path(entry["raster"]).name)
            job_dir = args.work / "runs" / f"{dataset.replace(':', '_')}_start_s{seed}"
            start = time.time()
            out = run_one(dict(parts, labeled=[{"raster": e["raster"], "labels": e["labels"]} for e in parts["labeled"]]),
                          args.method, args.params, seed, cfg, job_dir, args.device)
            first = {"model": str(job_dir / "model")}
            records.append({"dataset": dataset, "method": args.method, "strategy": "start", "seed": seed, "round": 0, "miou": out["miou"],
                            "labelled_px": 0, "round_s": time.time() - start})
            print(f"{dataset} seed {seed} round 0: mIoU {100 * out['miou']:.1f}", flush=True)
            for strategy in args.strategies:
                records += run_loop(parts, dataset, strategy, seed, args.rounds, cfg, retrain, args.work, args.device, first, (args.method, args.params))
            if args.results:
                args.results.write_text(json.dumps(records, indent=1))
    print(summarise(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
