"""Speed and memory of the engine, measured side by side in one run (ratios, not absolute times).

(a) a training step through the whole pipeline (windows read from GeoTIFF, labels, augmentation,
    Lightning) vs the same network's forward+backward+Adam step on an in-memory batch;
(b) `semiseg predict` vs pure forward passes over the same number of windows;
(c) peak RSS of `semiseg predict` on a generated 2k x 2k and 10k x 10k raster;
(d) a training step through the whole pipeline in bfloat16 mixed precision (train.precision
    "bf16") vs float32, on this machine's CPU;
(e) `semiseg predict` of the same model exported to ONNX (onnxruntime), of its package with the
    network exported in memory (`--runtime auto`, onnxruntime on a CPU), and through PyTorch in
    bfloat16 (`--precision bf16`), vs its package through PyTorch in float32 (`--runtime torch`),
    on a 2k x 2k raster at overlap 0.25: wall time, peak RSS and the share of equal class pixels.
(f) `semiseg predict` of the default model (a blend package: U-Net/ResNet-18 and a pixel forest,
    models/blend.py) vs its network alone in the same 512-px windows, fresh processes, on a
    generated 1024 x 1024 raster: seconds per megapixel and peak RSS; and, in this process, one
    512-px window's filter bank, tree traversal and network forward (the shares of the forest's
    parts). The forest is fitted on the generated scene's noisy classes (`--forest-trees`,
    default the pixel forest's default) so its trees are as deep as on real scribbles.
(g) the same pair on a real orthophoto: a 2000 x 1500 px mosaic of four Dubai parts (t5 p001,
    p002, p004, p005), the forest fitted with the pixel forest's defaults on 50 000 densely
    labelled pixels of other tiles (t1, t2), fresh processes: the default's map time in seconds
    (issue 39's target: 30 s on 2 cores) beside its network's. Needs ../shared/data.
    Each pair twice: the network computed by PyTorch (`--runtime torch`), then by onnxruntime
    (`--runtime onnxruntime`, what `auto` picks on a CPU). `--orthophoto-big N` adds the default's
    map time of an N x N raster tiled from the mosaic, `--runtime auto` (10000: about 15 minutes
    on 2 cores).
(b) and (c) predict in float32 (`--precision 32`), as their floor computes.

Usage: .venv/bin/python benchmarks/bench_speed.py [--out DIR] [--steps N] [--big 10000] [--parts a b c d e f g] [--forest-trees N] [--orthophoto-big N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from semiseg.cli import main as semiseg
from semiseg.jobs.events import read_events
from semiseg.models.network import build_network
from semiseg.models.package import load_package
from semiseg.predict.raster import WindowPredictor
from semiseg.predict.tiling import TileGrid

TILE, BATCH = 128, 8


def write_scene(path: Path, size: int, block: int = 1024) -> None:
    """A textured 3-band raster written window by window (a 10k raster never sits in memory)."""
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs=CRS.from_epsg(32633), transform=Affine(0.5, 0, 600000, 0, -0.5, 5650000), tiled=True, compress="deflate")
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **profile) as ds:
        for row in range(0, size, block):
            for col in range(0, size, block):
                h, w = min(block, size - row), min(block, size - col)
                r, c = np.mgrid[row : row + h, col : col + w]
                base = 120 + 60 * np.sin(r / 37.0) * np.cos(c / 53.0)
                data = (base[None] + rng.integers(0, 40, (3, h, w))).clip(0, 255).astype(np.uint8)
                ds.write(data, window=Window(col, row, w, h))


def training_job(folder: Path, steps: int, workers: int, precision: str = "32") -> Path:
    """A generated job; float32 unless told, like the in-memory floor of (a)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_scene(folder / "scene.tif", 1024)
    with rasterio.open(folder / "scene.tif") as ds:
        profile = dict(ds.profile, count=1, nodata=255)
        bright = ds.read(1) > 120
    labels = np.full(bright.shape, 255, np.uint8)
    labels[::9, ::9] = bright[::9, ::9]
    with rasterio.open(folder / "labels.tif", "w", **profile) as ds:
        ds.write(labels, 1)
    job = {
        "version": 1,
        "classes": [{"id": 0, "name": "dark"}, {"id": 1, "name": "bright"}],
        "labeled": [{"raster": "scene.tif", "labels": "labels.tif"}],
        "train": {"steps": steps, "batch_size": BATCH, "tile_size": TILE, "seed": 0, "num_workers": workers, "val_fraction": 0.0, "checkpoint_every": 10_000, "precision": precision},
    }
    (folder / "job.json").write_text(json.dumps(job))
    return folder


def seconds_per_step_pipeline(job_dir: Path, skip: int) -> float:
    assert semiseg(["train", str(job_dir), "--quiet", "--device", "cpu"]) == 0
    progress = {e["step"]: e["elapsed_s"] for e in read_events(job_dir) if e["type"] == "progress"}
    last = max(progress)
    return (progress[last] - progress[skip]) / (last - skip)


def seconds_per_step_floor(steps: int, skip: int) -> float:
    torch.manual_seed(0)
    net = build_network("unet", "resnet18", 3, 2)
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    x = torch.randn(BATCH, 3, TILE, TILE)
    y = torch.randint(0, 2, (BATCH, TILE, TILE))
    y[:, ::2] = 255
    net.train()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x), y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.mean(times[skip:]))


def window_count(model_dir: Path, raster: Path) -> int:
    card, _ = load_package(model_dir)
    with rasterio.open(raster) as ds:
        return len(TileGrid(ds.height, ds.width, card.tile_size, 0.5))


def predict_seconds(model_dir: Path, raster: Path, out: Path) -> float:
    t0 = time.perf_counter()
    assert semiseg(["predict", str(model_dir), str(raster), "--out", str(out), "--quiet", "--device", "cpu", "--batch-size", str(BATCH), "--precision", "32", "--runtime", "torch"]) == 0
    return time.perf_counter() - t0


def forward_seconds(model_dir: Path, windows: int) -> float:
    """The floor of (b): forward passes alone over as many windows, from in-memory tensors."""
    card, network = load_package(model_dir)
    predictor = WindowPredictor(network, torch.device("cpu"), BATCH)
    x = torch.randn(BATCH, card.in_channels, card.tile_size, card.tile_size)
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(int(np.ceil(windows / BATCH))):
            predictor.network(x)
    return time.perf_counter() - t0


def peak_rss_mb(model_dir: Path, raster: Path, out: Path, overlap: float = 0.0, precision: str = "32", runtime: str = "auto") -> tuple[float, float]:
    """Peak RSS (MB) and seconds of a fresh `semiseg predict` process (`runtime`: its --runtime).

    VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child started from this
    (large) process would report the parent's size.
    """
    code = (
        "import re, sys, time; from semiseg.cli import main; t=time.perf_counter(); "
        f"rc = main(['predict', {str(model_dir)!r}, {str(raster)!r}, '--out', {str(out)!r}, '--quiet', '--device', 'cpu', '--overlap', '{overlap}', '--precision', '{precision}', '--runtime', '{runtime}']); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print(hwm, time.perf_counter()-t); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kb, seconds = result.stdout.split()[-2:]
    return int(kb) / 1024, float(seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("bench-output"))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--parts", nargs="+", choices=["a", "b", "c", "d", "e", "f", "g"], default=["a", "b", "c", "d", "e", "f", "g"], help="measurements to run ((b) and (c) need (a)'s model; (e) trains one if (a) did not)")
    ap.add_argument("--forest-trees", type=int, default=None, help="(f): trees of the blend's forest (default: the pixel forest's default)")
    ap.add_argument("--orthophoto-big", type=int, default=0, help="(g): also map an N x N raster tiled from the orthophoto with the default model (0: not)")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(torch.get_num_threads())
    skip = 5
    rows = []

    # Each pipeline measurement is bracketed by floor measurements (before and after) so that a
    # machine whose load changes during the run biases both sides alike.
    for workers in (0, 1) if "a" in args.parts else ():
        job = training_job(out / f"train_w{workers}", args.steps, workers)
        before = seconds_per_step_floor(args.steps, skip)
        pipe = seconds_per_step_pipeline(job, skip)
        floor = (before + seconds_per_step_floor(args.steps, skip)) / 2
        rows.append(("(a) training step, pipeline / in-memory floor", f"num_workers={workers}", f"{pipe:.3f} s vs {floor:.3f} s", f"{pipe / floor:.2f}x", "<= 1.05x"))

    if "d" in args.parts:
        # float32 before and after the bfloat16 run, as for (a): the machine's load drifts.
        before = seconds_per_step_pipeline(training_job(out / "train_fp32_before", args.steps, 0, "32"), skip)
        bf16 = seconds_per_step_pipeline(training_job(out / "train_bf16", args.steps, 0, "bf16"), skip)
        fp32_mean = (before + seconds_per_step_pipeline(training_job(out / "train_fp32_after", args.steps, 0, "32"), skip)) / 2
        rows.append(("(d) training step, bfloat16 mixed / float32", "num_workers=0", f"{bf16:.3f} s vs {fp32_mean:.3f} s", f"{fp32_mean / bf16:.2f}x faster", "—"))

    if "b" in args.parts or "c" in args.parts:
        rows += predict_rows(out, args.big, "b" in args.parts, "c" in args.parts)

    if "e" in args.parts:
        rows += onnx_rows(out, args.steps, skip)

    if "f" in args.parts:
        rows += default_model_rows(out, args.forest_trees)

    if "g" in args.parts:
        rows += orthophoto_rows(out, args.orthophoto_big)

    print(f"\nCPU threads: {torch.get_num_threads()}, tile {TILE}, batch {BATCH}, unet/resnet18, torch {torch.__version__}\n")
    print("| measurement | setting | measured | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def predict_rows(out: Path, big_size: int, throughput: bool, memory: bool) -> list[tuple]:
    rows = []
    raster2k = out / "scene_2k.tif"
    write_scene(raster2k, 2048)
    model = out / "train_w1" / "model"
    if throughput:
        tiles = window_count(model, raster2k)
        before = forward_seconds(model, tiles)
        predict_s = predict_seconds(model, raster2k, out / "pred")
        forward_s = (before + forward_seconds(model, tiles)) / 2
        rows.append(("(b) predict throughput vs pure forward", f"2048^2, {tiles} windows, overlap 0.5", f"{predict_s:.1f} s vs {forward_s:.1f} s", f"{forward_s / predict_s:.2f}x", ">= 0.9x"))
    if memory:
        big = out / f"scene_{big_size}.tif"
        write_scene(big, big_size)
        rss_small, t_small = peak_rss_mb(model, raster2k, out / "rss")
        rss_big, t_big = peak_rss_mb(model, big, out / "rss")
        rows.append(("(c) peak RSS of semiseg predict", f"2048^2 vs {big_size}^2 ({(big_size / 2048) ** 2:.0f}x pixels)", f"{rss_small:.0f} MB vs {rss_big:.0f} MB ({t_small:.0f} s, {t_big:.0f} s)", f"{rss_big / rss_small:.2f}x", "flat (~1x)"))
    return rows


def onnx_rows(out: Path, steps: int, skip: int) -> list[tuple]:
    """(e): the package through PyTorch in float32 before and after the other runs (the load
    drifts), onnxruntime and PyTorch in bfloat16 between them, each a fresh process."""
    model = out / "train_w1" / "model"
    if not (model / "model.json").is_file():
        seconds_per_step_pipeline(training_job(out / "train_w1", steps, 1), skip)
    raster = out / "scene_2k.tif"
    if not raster.is_file():
        write_scene(raster, 2048)
    onnx = out / "model.onnx"
    assert semiseg(["export", str(model), "--onnx", str(onnx)]) == 0
    rss_torch, t_before = peak_rss_mb(model, raster, out / "pred_torch", 0.25, runtime="torch")
    rss_onnx, t_onnx = peak_rss_mb(onnx, raster, out / "pred_onnx", 0.25)
    rss_auto, t_auto = peak_rss_mb(model, raster, out / "pred_auto", 0.25, runtime="auto")
    rss_bf16, t_bf16 = peak_rss_mb(model, raster, out / "pred_bf16", 0.25, "bf16", runtime="torch")
    _, t_after = peak_rss_mb(model, raster, out / "pred_torch", 0.25, runtime="torch")
    t_torch = (t_before + t_after) / 2
    rows = []
    for name, folder, seconds, rss in (("onnxruntime, the exported .onnx file", "pred_onnx", t_onnx, rss_onnx),
                                       ("onnxruntime, the package (--runtime auto: the CPU default)", "pred_auto", t_auto, rss_auto),
                                       ("PyTorch bfloat16", "pred_bf16", t_bf16, rss_bf16)):
        with rasterio.open(out / "pred_torch" / "scene_2k_classes.tif") as a, rasterio.open(out / folder / "scene_2k_classes.tif") as b:
            same = float((a.read(1) == b.read(1)).mean())
        rows.append((f"(e) predict, {name} / PyTorch float32", "2048^2, overlap 0.25, fresh processes",
                     f"{seconds:.1f} s vs {t_torch:.1f} s; {rss:.0f} MB vs {rss_torch:.0f} MB; {100 * same:.2f} % same classes",
                     f"{t_torch / seconds:.2f}x faster, {rss / rss_torch:.2f}x memory", ">= 99 % same classes to be the CPU default"))
    return rows


FOREST_WINDOW = 512  # the blend's prediction window (pipeline/export.py: FOREST_TILE at least)


def scene_forest(raster: Path, trees: int, stats: tuple[float, float]):
    """A pixel forest fitted like the default's: 50000 labelled pixels of four classes of the
    scene's brightness, a fifth of them flipped at random (real scribbles' classes overlap in
    the features too), so the trees grow as deep as on real data."""
    from semiseg.models.filter_bank import filter_features
    from semiseg.models.forest import fit_forest

    with rasterio.open(raster) as ds:
        image = ds.read(window=Window(0, 0, 768, 768)).astype(np.float32)
    x = torch.from_numpy((image - stats[0]) / stats[1])[None]
    features = filter_features(x, torch.ones(1, 768, 768, dtype=torch.bool))[0].flatten(1).T.numpy()
    rng = np.random.default_rng(0)
    brightness = features[:, 1]  # band 1 smoothed at sigma 0.7
    classes = np.digitize(brightness, np.quantile(brightness, [0.25, 0.5, 0.75]))
    flip = rng.random(len(classes)) < 0.2
    classes[flip] = rng.integers(0, 4, int(flip.sum()))
    pick = rng.choice(len(classes), 50_000, replace=False)
    return fit_forest(np.ascontiguousarray(features[pick]), classes[pick], 4, trees, seed=0)


def default_model_rows(out: Path, trees: int | None) -> list[tuple]:
    """(f): the default model (network + forest, blended) vs its network alone; see the module docstring."""
    from semiseg.models.blend import ForestBlend
    from semiseg.models.filter_bank import filter_features
    from semiseg.models.forest import _depth
    from semiseg.models.package import ModelCard, save_package
    from semiseg.train.methods.pixel_forest import PixelForestParams

    trees = trees or PixelForestParams().trees
    raster = out / "scene_1k.tif"
    write_scene(raster, 1024)
    stats = (140.0, 45.0)
    t0 = time.perf_counter()
    forest = scene_forest(raster, trees, stats)
    fit_s = time.perf_counter() - t0
    torch.manual_seed(0)
    network = build_network("unet", "resnet18", 3, 4).eval()
    card = dict(class_names=["a", "b", "c", "d"], class_colors=["#000000", "#555555", "#aaaaaa", "#ffffff"], bands=[1, 2, 3], mean=[stats[0]] * 3, std=[stats[1]] * 3,
                arch="unet", encoder="resnet18", in_channels=3, tile_size=FOREST_WINDOW, method={"name": "mean_teacher"})
    save_package(out / "f_network", ModelCard(**card), network)
    save_package(out / "f_default", ModelCard(**card, forest_blend=0.5), ForestBlend(network, forest, 0.5))

    # One window, in this process: the parts of the forest next to the network (ratios of one run).
    x = torch.randn(1, 3, FOREST_WINDOW, FOREST_WINDOW)
    valid = torch.ones(1, FOREST_WINDOW, FOREST_WINDOW, dtype=torch.bool)

    def best_of(fn, n: int = 2) -> float:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    with torch.no_grad():
        network(x)  # warm-up
        net_s = best_of(lambda: network(x))
        bank_s = best_of(lambda: filter_features(x, valid))
        pixels = filter_features(x, valid)[0].flatten(1).T.numpy().copy()
        forest.class_probabilities(pixels[:1000])  # builds the trees once, as a package does
        trees_s = best_of(lambda: forest.class_probabilities(pixels))
    sizes = forest.tree_sizes.tolist()
    left, right = forest.left.numpy(), forest.right.numpy()
    depth = _depth(left[: sizes[0]], right[: sizes[0]])

    # Both packages over the same windows, each in a fresh process; the network before and after (the load drifts).
    rss_net, t_net_before = peak_rss_mb(out / "f_network", raster, out / "f_pred_network", 0.5)
    rss_default, t_default = peak_rss_mb(out / "f_default", raster, out / "f_pred_default", 0.5)
    _, t_net_after = peak_rss_mb(out / "f_network", raster, out / "f_pred_network", 0.5)
    t_net = (t_net_before + t_net_after) / 2
    mp = 1024 * 1024 / 1e6
    forest_s = bank_s + trees_s
    return [
        ("(f) predict, default model (blend) / its network alone", f"1024^2, 512-px windows, overlap 0.5, {trees} trees (~{np.mean(sizes):.0f} nodes, depth {depth}), fresh processes",
         f"{t_default / mp:.1f} s/MP vs {t_net / mp:.1f} s/MP; {rss_default:.0f} MB vs {rss_net:.0f} MB", f"{t_default / t_net:.2f}x time, {rss_default / rss_net:.2f}x memory", "<= 1.5x time"),
        ("(f) one 512-px window: filter bank / trees / network forward", f"in-process, best of 2 (forest fitted in {fit_s:.0f} s)",
         f"{bank_s:.2f} s / {trees_s:.2f} s / {net_s:.2f} s", f"forest {forest_s / net_s:.2f}x the network ({100 * bank_s / forest_s:.0f} % bank, {100 * trees_s / forest_s:.0f} % trees)", "forest <= 0.5x network"),
    ]


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def orthophoto_rows(out: Path, big: int) -> list[tuple]:
    """(g): the default model vs its network alone on a real 2000 x 1500 orthophoto; see the module docstring."""
    from semiseg.models.blend import ForestBlend
    from semiseg.models.filter_bank import filter_features
    from semiseg.models.forest import fit_forest
    from semiseg.models.package import ModelCard, save_package
    from semiseg.train.methods.pixel_forest import PixelForestParams

    dubai = SHARED_DATA / "aerial-dubai"
    if not dubai.is_dir():
        return [("(g) predict a real orthophoto", f"skipped: {dubai} is absent", "—", "—", "—")]
    raster = out / "dubai_2000x1500.tif"
    parts = [[rasterio.open(dubai / "images" / f"dubai_t5_p00{i}.tif").read() for i in row] for row in ((1, 2), (4, 5))]
    mosaic = np.concatenate([np.concatenate(row, 2) for row in parts], 1)[:, :1500, :2000]
    with rasterio.open(raster, "w", driver="GTiff", width=2000, height=1500, count=3, dtype="uint8", crs=CRS.from_epsg(32640),
                       transform=Affine(0.5, 0, 500000, 0, -0.5, 2800000), tiled=True, compress="deflate") as ds:
        ds.write(mosaic)
    mean, std = [float(m) for m in mosaic.reshape(3, -1).mean(1)], [float(s) for s in mosaic.reshape(3, -1).std(1)]

    features, labels = [], []
    for name in ("t1_p001", "t1_p005", "t2_p001", "t2_p005"):
        with rasterio.open(dubai / "images" / f"dubai_{name}.tif") as ds, rasterio.open(dubai / "labels" / f"dubai_{name}.tif") as lab:
            image, label = ds.read().astype(np.float32), lab.read(1)
        x = torch.from_numpy((image - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None])[None]
        f = filter_features(x, torch.ones(1, *image.shape[1:], dtype=torch.bool))[0].flatten(1).T.numpy()
        keep = label.reshape(-1) != 255
        features.append(f[keep])
        labels.append(label.reshape(-1)[keep].astype(np.int64))
    features, labels = np.concatenate(features), np.concatenate(labels)
    pick = np.random.default_rng(0).choice(len(labels), 50_000, replace=False)
    params = PixelForestParams()
    forest = fit_forest(np.ascontiguousarray(features[pick]), labels[pick], 5, params.trees, seed=0, min_samples_leaf=params.min_samples_leaf)
    torch.manual_seed(0)
    network = build_network("unet", "resnet18", 3, 5).eval()
    card = dict(class_names=["water", "land", "road", "building", "vegetation"], class_colors=["#0000ff", "#aa8855", "#888888", "#ff0000", "#00aa00"],
                bands=[1, 2, 3], mean=mean, std=std, arch="unet", encoder="resnet18", in_channels=3, tile_size=FOREST_WINDOW, method={"name": "mean_teacher"})
    save_package(out / "g_network", ModelCard(**card), network)
    save_package(out / "g_default", ModelCard(**card, forest_blend=0.5), ForestBlend(network, forest, 0.5))
    rows = []
    for runtime in ("torch", "onnxruntime"):  # what computes the network (--runtime; auto: onnxruntime on a CPU)
        rss_net, t_net_before = peak_rss_mb(out / "g_network", raster, out / "g_pred_network", 0.5, runtime=runtime)
        rss_default, t_default = peak_rss_mb(out / "g_default", raster, out / "g_pred_default", 0.5, runtime=runtime)
        _, t_net_after = peak_rss_mb(out / "g_network", raster, out / "g_pred_network", 0.5, runtime=runtime)
        t_net = (t_net_before + t_net_after) / 2
        rows.append((f"(g) predict a real orthophoto, default model (blend) / its network alone, network in {runtime}",
                     f"2000 x 1500 Dubai mosaic, 512-px windows, overlap 0.5, {params.trees} trees (~{float(forest.tree_sizes.float().mean()):.0f} nodes), fresh processes",
                     f"{t_default:.1f} s vs {t_net:.1f} s; {rss_default:.0f} MB vs {rss_net:.0f} MB", f"{t_default / t_net:.2f}x time, {rss_default / rss_net:.2f}x memory",
                     "<= 1.5x time; <= 30 s"))
    if big:
        big_raster = out / f"dubai_{big}x{big}.tif"
        tiled = np.tile(mosaic, (1, -(-big // 1500), -(-big // 2000)))[:, :big, :big]
        with rasterio.open(big_raster, "w", driver="GTiff", width=big, height=big, count=3, dtype="uint8", crs=CRS.from_epsg(32640),
                           transform=Affine(0.5, 0, 500000, 0, -0.5, 2800000), tiled=True, compress="deflate", BIGTIFF="IF_SAFER") as ds:
            ds.write(tiled)
        del tiled
        rss_big, t_big = peak_rss_mb(out / "g_default", big_raster, out / "g_pred_big", 0.5)
        rows.append((f"(g) the default model's map of a {big} x {big} raster", "the mosaic tiled, the same package and windows, one fresh process",
                     f"{t_big:.0f} s ({t_big / 60:.1f} min, {t_big / (big * big / 1e6):.1f} s/MP); {rss_big:.0f} MB", "—", "—"))
    return rows


if __name__ == "__main__":
    main()
