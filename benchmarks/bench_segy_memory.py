"""Peak memory of `semiseg predict` on SEG-Y volumes of growing size (issue 27): a volume is
read, predicted and written a line at a time, so the peak must not grow with the volume.

Two post-stack volumes, 100 x 100 and 400 x 400 traces of 400 samples (IEEE floats, 16 MB and
256 MB; band-limited noise: memory does not depend on what the amplitudes show), one model
package (an untrained 1-band U-Net with 256-px windows: the work per window is a trained
one's). Each prediction runs in a fresh process; the table gives its peak RSS, the ratio to
the smallest, and its wall-clock. Compare ratios within one run: the machine is shared.

Usage: .venv/bin/python benchmarks/bench_segy_memory.py [--sizes 100 400] [--samples 400] [--axis inline] [--work DIR]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEASURE = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def write_volume(path: Path, traces: int, samples: int, seed: int = 0) -> None:
    """`traces` inlines x `traces` crosslines, written an inline at a time (this script stays small too)."""
    import segyio

    rng = np.random.default_rng(seed)
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, 4.0 * np.arange(samples), traces * traces
    kernel = np.hanning(9) / np.hanning(9).sum()
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: 4000, segyio.BinField.Samples: samples, segyio.BinField.Format: 5})
        for i in range(traces):
            noise = rng.normal(size=(traces, samples + 8)).astype(np.float32)
            line = (np.stack([np.convolve(t, kernel, mode="valid") for t in noise])[:, :samples] * 1000).astype(np.float32)
            for j in range(traces):
                t = i * traces + j
                f.header[t] = {segyio.TraceField.INLINE_3D: 1 + i, segyio.TraceField.CROSSLINE_3D: 1 + j,
                               segyio.TraceField.CDP_X: 25 * j, segyio.TraceField.CDP_Y: 25 * i,
                               segyio.TraceField.TRACE_SAMPLE_COUNT: samples}
                f.trace[t] = line[j]


def write_model(folder: Path) -> None:
    import torch

    from semiseg.models.network import build_network
    from semiseg.models.package import ModelCard, save_package

    torch.manual_seed(0)
    card = ModelCard(["a", "b"], ["#000000", "#ffffff"], [1], [0.0], [1000.0], "unet", "resnet18", 1, 256, {"name": "supervised"})
    save_package(folder, card, build_network("unet", "resnet18", 1, 2).eval())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400], help="traces per side of each volume")
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--axis", default="inline", choices=("inline", "crossline", "both"))
    ap.add_argument("--work", type=Path, default=ROOT / "bench-output" / "segy-memory")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    write_model(args.work / "model")
    rows = []
    for size in args.sizes:
        volume = args.work / f"volume_{size}.sgy"
        write_volume(volume, size, args.samples)
        start = time.monotonic()
        run = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "semiseg.cli", "predict",
                              str(args.work / "model"), str(volume), "--out", str(args.work / f"out_{size}"),
                              "--axis", args.axis, "--device", "cpu", "--quiet"], capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        rows.append((size, volume.stat().st_size / 2**20, int(run.stdout.split()[-1]) / 1024, time.monotonic() - start))
    print("| volume (inlines x crosslines x samples) | file MB | peak RSS MB | vs smallest | wall-clock s |")
    print("|---|---|---|---|---|")
    for size, megabytes, rss, seconds in rows:
        print(f"| {size} x {size} x {args.samples} | {megabytes:.0f} | {rss:.0f} | {rss / rows[0][2]:.2f}x | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
