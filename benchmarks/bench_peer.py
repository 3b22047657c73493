"""CPU map throughput against a peer: geoai-py's tiled GeoTIFF inference and `semiseg predict`.

Issue 39's peer row. Both map the same generated 2048 x 2048 raster with the same U-Net/ResNet-18
weights (random, seed 0: the time does not depend on them; the head's biases centred on one
window's mean logits so that the classes vary over the scene, as a trained model's do), 512-px windows, 256 px of overlap
(semiseg's `--overlap 0.5`), batch 8, on the CPU, each run a fresh process, alternating peer and
semiseg so that the machine's drifting load falls on both. The peer is geoai-py's own
`geoai.train.semantic_inference_on_geotiff`, run in a virtual environment layered on the
engine's (`make bench-peer` makes it; the same torch and smp), which scales the bands by 1/255:
the package's statistics are mean 0 and std 255, so both networks see the same inputs.

Each row: seconds of the peer's call and of `semiseg predict` (package loading and writing
included for both; semiseg also writes the confidence raster and overviews), the throughput
ratio (peer seconds / ours: the target is 1.5x), the share of pixels given the same class as
semiseg's float32 PyTorch map (the target for a faster variant: at least 99 %) and as the peer's
map (not 100 %: the two weigh overlapping windows differently, and a random network's classes are
near ties where windows disagree). The variants are the engine's CPU paths: PyTorch float32
(channels-last), the package as `semiseg predict` runs it by default (`--runtime auto`: its
network exported in memory and run by onnxruntime), the package exported to an .onnx file, and
that ONNX model with its weights quantized to int8 by onnxruntime's dynamic quantization.

Usage: .venv/bin/python benchmarks/bench_peer.py --peer-python .venv-peer/bin/python [--out DIR] [--size 2048] [--repeats 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import write_scene  # noqa: E402  (the generated orthophoto-like scene)

from semiseg.cli import main as semiseg  # noqa: E402
from semiseg.models.network import build_network  # noqa: E402
from semiseg.models.package import ModelCard, save_package, weights_file  # noqa: E402

WINDOW, OVERLAP_PX, BATCH, CLASSES = 512, 256, 8, 4

PEER = """
import sys, time, torch, segmentation_models_pytorch as smp
from safetensors.torch import load_file
from geoai.train import semantic_inference_on_geotiff
t = time.perf_counter()
weights, raster, out, window, overlap, batch, classes = sys.argv[1:]
net = smp.create_model("unet", encoder_name="resnet18", encoder_weights=None, in_channels=3, classes=int(classes))
net.load_state_dict(load_file(weights))
semantic_inference_on_geotiff(net, raster, out, window_size=int(window), overlap=int(overlap), batch_size=int(batch),
                              num_channels=3, num_classes=int(classes), device=torch.device("cpu"), quiet=True)
print(time.perf_counter() - t)
"""


def peer_seconds(peer_python: Path, weights: Path, raster: Path, out: Path) -> float:
    """geoai-py's map of `raster`, from after its module's import (16 s here: it imports torchvision's
    detection models and more) to its files written; the network built and loaded included."""
    result = subprocess.run([str(peer_python), "-c", PEER, str(weights), str(raster), str(out), str(WINDOW), str(OVERLAP_PX), str(BATCH), str(CLASSES)],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"bench_peer: the peer failed: {result.stderr.strip().splitlines()[-1]}")
    return float(result.stdout.split()[-1])


def ours_seconds(model: Path, raster: Path, out: Path, runtime: str) -> float:
    """`semiseg predict --runtime RUNTIME`, from after the CLI's import to its files written (the
    package loaded, and with onnxruntime its network exported, included)."""
    code = ("import sys, time; from semiseg.cli import main; t = time.perf_counter(); "
            f"rc = main(['predict', {str(model)!r}, {str(raster)!r}, '--out', {str(out)!r}, '--quiet', '--device', 'cpu', "
            f"'--overlap', '{OVERLAP_PX / WINDOW}', '--batch-size', '{BATCH}', '--precision', '32', '--runtime', '{runtime}']); print(time.perf_counter() - t); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])




def same_classes(a: Path, b: Path) -> float:
    with rasterio.open(a) as x, rasterio.open(b) as y:
        return float((x.read(1) == y.read(1)).mean())


def quantized(onnx: Path) -> Path:
    """The ONNX model with int8 weights (onnxruntime's dynamic quantization, activations
    quantized per batch at run time: no calibration set)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = onnx.with_name(onnx.stem + "_int8.onnx")
    quantize_dynamic(str(onnx), str(target), weight_type=QuantType.QInt8)
    return target


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-python", type=Path, required=True, help="the Python of a venv with geoai-py (make bench-peer)")
    ap.add_argument("--out", type=Path, default=Path("bench-output/peer"))
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=2, help="alternations of peer and each variant (the mean is reported)")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    raster = out / f"scene_{args.size}.tif"
    if not raster.is_file():
        write_scene(raster, args.size)

    torch.manual_seed(0)
    network = build_network("unet", "resnet18", 3, CLASSES).eval()
    with torch.no_grad():  # a random head picks one class almost everywhere, and the same-class share would say nothing
        with rasterio.open(raster) as ds:
            window = torch.from_numpy(ds.read(window=((0, WINDOW), (0, WINDOW))).astype(np.float32) / 255)[None]
        network.segmentation_head[0].bias.sub_(network(window).mean((0, 2, 3)))
    card = ModelCard(class_names=[f"class {i}" for i in range(CLASSES)], class_colors=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"],
                     bands=[1, 2, 3], mean=[0.0] * 3, std=[255.0] * 3, arch="unet", encoder="resnet18", in_channels=3, tile_size=WINDOW,
                     method={"name": "supervised"})
    package = out / "model"
    save_package(package, card, network)
    onnx = out / "model.onnx"
    assert semiseg(["export", str(package), "--onnx", str(onnx)]) == 0
    # name: (model, --runtime, output folder); the first is the reference map of the same-class shares
    variants = {"PyTorch float32 (--runtime torch)": (package, "torch", "torch"),
                "the package, --runtime auto (the CPU default: onnxruntime)": (package, "auto", "auto"),
                "onnxruntime float32 (the exported .onnx file)": (onnx, "auto", "onnx"),
                "onnxruntime int8 (dynamic)": (quantized(onnx), "auto", "int8")}
    maps = {name: out / folder / f"{raster.stem}_classes.tif" for name, (_, _, folder) in variants.items()}

    peer_map = out / "peer.tif"
    peer_times: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (model, runtime, _) in variants.items():
            peer_times.append(peer_seconds(args.peer_python, weights_file(package), raster, peer_map))
            times[name].append(ours_seconds(model, raster, maps[name].parent, runtime))
    peer_times.append(peer_seconds(args.peer_python, weights_file(package), raster, peer_map))
    t_peer = float(np.mean(peer_times))

    print(f"\nCPU threads: {torch.get_num_threads()}, {args.size} x {args.size}, U-Net/ResNet-18, window {WINDOW}, overlap {OVERLAP_PX} px, batch {BATCH}, "
          f"{args.repeats} alternations, torch {torch.__version__}\n")
    print("| semiseg variant | geoai-py | semiseg | throughput vs geoai-py | same class as semiseg's float32 PyTorch | same class as geoai-py | targets |")
    print("|---|---|---|---|---|---|---|")
    reference = maps["PyTorch float32 (--runtime torch)"]
    for name in variants:
        t_ours = float(np.mean(times[name]))
        ours = maps[name]
        print(f"| {name} | {t_peer:.1f} s | {t_ours:.1f} s | {t_peer / t_ours:.2f}x | {100 * same_classes(reference, ours):.2f} % | "
              f"{100 * same_classes(peer_map, ours):.2f} % | >= 1.5x, >= 99 % as float32 |")
    with rasterio.open(peer_map) as ds:
        shares = np.bincount(ds.read(1).ravel(), minlength=CLASSES)[:CLASSES] / (ds.width * ds.height)
    print(f"\ngeoai-py's classes: {', '.join(f'{100 * s:.1f} %' for s in shares)}")
    print(f"geoai-py per run: {', '.join(f'{t:.1f}' for t in peer_times)} s; "
          + "; ".join(f"{name}: {', '.join(f'{t:.1f}' for t in ts)} s" for name, ts in times.items()))


if __name__ == "__main__":
    main()
