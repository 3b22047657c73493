"""Score blends of a finished network run and the pixel-forest run of the same scribbles and seed.

`forest_blend: w` exports p = (1 - w) p_network + w p_forest (engine/src/semiseg/models/blend.py).
Training once and blending afterwards gives every weight's score from the same two models, on
the same evaluation crops and in the same single forward pass as bench_quality.py's scores
(w = 0 is the network alone, w = 1 the forest alone). Both runs must be in bench_quality.py's
work folder (bench-output/quality/runs/), which keeps each run's model/.

Usage: .venv/bin/python benchmarks/blend_scores.py DATASET SEED NETWORK_RUN [--weights 0 0.25 0.5 0.75 1]
  e.g. seismic-tgs-salt:dev 0 seismic-tgs-salt_dev_0.01_mean_teacher_pseudo-forest_s0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import CONFIGS, DEFAULT_DATA, DEFAULT_WORK, run_parts  # noqa: E402


def class_probabilities(model_dir: Path, images: list[tuple[np.ndarray, np.ndarray]], network_only: bool = False):
    """The package's class probabilities of each (image, valid) pair; `network_only`: of the
    network inside a blended package (a gated default's), not of the blend."""
    import torch

    from semiseg.models.forest import class_logits
    from semiseg.models.package import load_package
    from semiseg.models.second_opinion import network_of

    card, model = load_package(model_dir)
    model = network_of(model) if network_only else model
    out = []
    for image, valid in images:
        x = torch.from_numpy((card.stats.apply(image) * valid).astype(np.float32))[None]
        with torch.no_grad():
            out.append(class_logits(model, x, torch.from_numpy(valid)[None]).float().softmax(1)[0].numpy())
    return card, out


def evaluation_crops(parts: dict) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """((image, valid) of each evaluation crop, padded to a multiple of 32 as bench_quality.score_model does, truths)."""
    import rasterio
    from rasterio.windows import Window

    from semiseg.io.rasters import read_window

    images, truths = [], []
    for e in parts["evaluation"]:
        with rasterio.open(e["image"]) as ds:
            h, w = ds.height, ds.width
            images.append(read_window(ds, Window(0, 0, -(-w // 32) * 32, -(-h // 32) * 32), list(range(1, ds.count + 1))))
        with rasterio.open(e["truth"]) as ds:
            truths.append(ds.read(1))
    return images, truths


def forest_run(dataset: str, seed: int) -> Path:
    """The pixel-forest run of the same scribbles and seed in bench_quality.py's work folder."""
    budget = "real" if dataset.startswith("s2-strzegom") else "0.01"  # in the run's folder name
    return DEFAULT_WORK / "runs" / f"{dataset.replace(':', '_')}_{budget}_pixel_forest_s{seed}"


def blend_mious(network: list, forest: list, images: list, truths: list, names: list[str], weights: list[float]) -> dict[float, float]:
    """mIoU (0-1) of p = (1 - w) p_network + w p_forest on the evaluation crops, for each w."""
    from semiseg.metrics import confusion, scores

    out = {}
    for weight in weights:
        matrix = np.zeros((len(names), len(names)), np.int64)
        for (_, valid), truth, pf, pn in zip(images, truths, forest, network):
            pred = ((1 - weight) * pn + weight * pf).argmax(0).astype(np.uint8)
            pred[~valid] = 255
            matrix += confusion(truth, pred[: truth.shape[0], : truth.shape[1]], len(names))
        out[weight] = scores(matrix, names)["miou"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("seed", type=int)
    ap.add_argument("network_run", help="folder name under bench-output/quality/runs/")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--config", default="cpu-long", choices=sorted(CONFIGS))
    args = ap.parse_args(argv)
    if not DEFAULT_DATA.is_dir():
        print(f"blend_scores: skipped: no real data at {DEFAULT_DATA}")
        return 0
    import torch

    torch.set_num_threads(1)
    parts = run_parts(args.dataset, args.seed, args.config)
    images, truths = evaluation_crops(parts)
    _, forest = class_probabilities(forest_run(args.dataset, args.seed) / "model", images)
    _, network = class_probabilities(DEFAULT_WORK / "runs" / args.network_run / "model", images)
    mious = blend_mious(network, forest, images, truths, [c["name"] for c in parts["classes"]], args.weights)
    print("| dataset | seed | network run | " + " | ".join(f"w = {w:g}" for w in args.weights) + " |")
    print("|---|---|---|" + "---|" * len(args.weights))
    print(f"| {args.dataset} | {args.seed} | {args.network_run} | " + " | ".join(f"{100 * mious[w]:.1f}" for w in args.weights) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
