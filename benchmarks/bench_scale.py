"""Prediction spread over processes, and resumed: the rows of docs/benchmarks.md "Scale" (issue 40).

(a) throughput of `semiseg predict` on a generated 4096 x 4096 raster with 1 process and with
    `--devices 2` (gloo), alternating 1, 2, 1 so the machine's drift biases both alike; and 1
    process with one 4096-px block (no halo recomputed: the windows of a one-pass prediction), so
    the cost of the blocks' halos is a row of its own;
(b) peak RSS of one process (one rank) on a 2048^2 and a `--big`^2 raster (overlap 0: the
    windows' count does not matter to memory);
(c) a run killed when half its blocks are done, then rerun: the rerun's seconds against an
    uninterrupted run's.
The model is an untrained U-Net/ResNet-18 package (speed does not depend on the weights), 256-px
windows, batch 8, float32 on the CPU.

Usage: .venv/bin/python benchmarks/bench_scale.py [--out DIR] [--size 4096] [--big 10000] [--parts a b c]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_speed import write_scene  # noqa: E402 (the same textured scene as the other speed rows)

from semiseg.models.network import build_network  # noqa: E402
from semiseg.models.package import ModelCard, save_package  # noqa: E402
from semiseg.predict.parts import BLOCK_SIZE, plan_blocks  # noqa: E402

TILE, BATCH = 256, 8
PREDICT = [sys.executable, "-m", "semiseg.cli", "predict"]


def model_package(folder: Path) -> Path:
    torch.manual_seed(0)
    card = ModelCard(["a", "b", "c"], ["#ff0000", "#00ff00", "#0000ff"], [1, 2, 3], [120.0] * 3, [60.0] * 3, "unet", "resnet18", 3, TILE, {"name": "supervised"})
    save_package(folder, card, build_network("unet", "resnet18", 3, 3).eval())
    return folder


def command(model: Path, raster: Path, out: Path, *extra: str) -> list[str]:
    return [*PREDICT, str(model), str(raster), "--out", str(out), "--quiet", "--device", "cpu", "--batch-size", str(BATCH),
            "--precision", "32", "--suggest", "0", *extra]


def seconds(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def peak_rss_mb(cmd: list[str]) -> float:
    """VmHWM of the process, read as it ends (Linux keeps ru_maxrss across exec: not that)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text()).group(1)))
        except (OSError, AttributeError):
            pass
        time.sleep(0.2)
    assert proc.returncode == 0
    return peak / 1024


def killed_at_half_then_rerun(cmd: list[str], parts: Path, blocks: int) -> tuple[float, float]:
    """Seconds until the kill (half the blocks done) and of the rerun."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    while len(list(parts.glob("block*"))) < blocks // 2 and proc.poll() is None:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = time.perf_counter() - t0
    return before, seconds(cmd)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("bench-output/scale"))
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--parts", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = model_package(out / "model")
    raster = out / f"scene_{args.size}.tif"
    write_scene(raster, args.size)
    megapixels = args.size**2 / 1e6
    rows = []
    if "a" in args.parts:
        one = [seconds(command(model, raster, out / "one"))]
        two = seconds(command(model, raster, out / "two", "--devices", "2"))
        one.append(seconds(command(model, raster, out / "one")))
        whole = seconds(command(model, raster, out / "whole", "--block-size", str(args.size)))
        mean_one = sum(one) / 2
        rows.append(("(a) throughput, 1 process", f"{args.size}^2, blocks of {BLOCK_SIZE}", f"{megapixels / mean_one:.3f} MP/s ({one[0]:.0f} s, {one[1]:.0f} s)", "1.00x", "—"))
        rows.append(("(a) throughput, --devices 2", f"{args.size}^2, blocks of {BLOCK_SIZE}", f"{megapixels / two:.3f} MP/s ({two:.0f} s)", f"{mean_one / two:.2f}x", "—"))
        rows.append(("(a) throughput, 1 process, one block", f"{args.size}^2, no halo", f"{megapixels / whole:.3f} MP/s ({whole:.0f} s)", f"{mean_one / whole:.2f}x", "—"))
    if "b" in args.parts:
        small = out / "scene_2048.tif"
        write_scene(small, 2048)
        big = out / f"scene_{args.big}.tif"
        write_scene(big, args.big)
        rss_small = peak_rss_mb(command(model, small, out / "rss", "--overlap", "0"))
        rss_big = peak_rss_mb(command(model, big, out / "rss", "--overlap", "0"))
        rows.append(("(b) peak RSS of one rank", f"2048^2 vs {args.big}^2", f"{rss_small:.0f} MB vs {rss_big:.0f} MB", f"{rss_big / rss_small:.2f}x", "<= 1.3x"))
    if "c" in args.parts:
        blocks = len(plan_blocks(args.size, args.size))
        full = seconds(command(model, raster, out / "full"))
        before, rerun = killed_at_half_then_rerun(command(model, raster, out / "resumed"), out / "resumed" / f"{raster.stem}.parts", blocks)
        rows.append(("(c) rerun after a kill at half way", f"{args.size}^2, {blocks} blocks", f"{rerun:.0f} s vs {full:.0f} s uninterrupted (killed after {before:.0f} s)", f"{rerun / full:.2f}x", "~0.5x"))

    print(f"\nCPU threads: {torch.get_num_threads()}, tile {TILE}, batch {BATCH}, unet/resnet18, torch {torch.__version__}\n")
    print("| measurement | setting | measured | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
