"""Prediction over several processes (gloo on the CPU), block by block, resumed after a kill.

What a user relies on: the map of `--devices 2` is the map of one process (classes bit for bit,
confidence within 1e-6, the same grid and the same optional outputs), for a network and for the
default network + forest blend, for one raster and a list; a killed run leaves nothing under a
final name, and its rerun predicts only the blocks that were missing and ends with the same files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch

from conftest import two_class_scene, write_raster
from semiseg.models.blend import ForestBlend
from semiseg.models.filter_bank import DEFAULT_SCALES, feature_names
from semiseg.models.forest import fit_forest
from semiseg.models.network import build_network
from semiseg.models.package import ModelCard, save_package
from semiseg.predict.parts import plan_blocks
from semiseg.predict.tiling import TileGrid

SEMISEG = [sys.executable, "-m", "semiseg.cli"]
TILE = 64
BLOCK = 256  # small blocks: a 380 x 560 raster is 2 x 3 of them
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _card(**extra) -> ModelCard:
    return ModelCard(["dark", "bright", "edge"], ["#202020", "#f0f0f0", "#ff0000"], [1, 2, 3], [120.0] * 3, [60.0] * 3,
                     "unet", "resnet18", 3, TILE, {"name": "supervised"}, **extra)


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    """A network package, and a default-like package blending it with a pixel forest at 0.5."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    network = build_network("unet", "resnet18", 3, 3).eval()
    save_package(root / "network", _card(), network)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(900, len(feature_names(3, DEFAULT_SCALES)))).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.int64) + (features[:, 5] > 1).astype(np.int64)
    forest = fit_forest(features, labels, 3, 8, 0, min_samples_leaf=1)
    save_package(root / "blend", _card(forest_blend=0.5), ForestBlend(network, forest, 0.5))
    return {"network": root / "network", "blend": root / "blend"}


@pytest.fixture(scope="module")
def rasters(tmp_path_factory) -> list[Path]:
    """Two rasters of sizes no block or window divides; the second with a nodata hole."""
    root = tmp_path_factory.mktemp("rasters")
    first, _ = two_class_scene(380, 560, seed=1)
    second, _ = two_class_scene(200, 300, seed=2)
    second[:, 40:90, 100:180] = 0
    return [write_raster(root / "first.tif", first), write_raster(root / "second.tif", second, nodata=0)]


def _predict(model: Path, rasters: list[Path], out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [*SEMISEG, "predict", str(model), *map(str, rasters), "--out", str(out), "--device", "cpu", "--quiet", "--events",
               "--block-size", str(BLOCK), "--batch-size", "4", *extra]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=900)


def _assert_same_map(one: Path, two: Path, stem: str) -> None:
    with rasterio.open(one / f"{stem}_classes.tif") as a, rasterio.open(two / f"{stem}_classes.tif") as b:
        assert (a.crs, a.transform, a.shape) == (b.crs, b.transform, b.shape)
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.colormap(1) == b.colormap(1)
    with rasterio.open(one / f"{stem}_confidence.tif") as a, rasterio.open(two / f"{stem}_confidence.tif") as b:
        assert (a.crs, a.transform) == (b.crs, b.transform)
        assert float(np.abs(a.read().astype(np.float64) - b.read()).max()) <= 1e-6
    with rasterio.open(one / f"{stem}_probabilities.tif") as a, rasterio.open(two / f"{stem}_probabilities.tif") as b:
        assert int(np.abs(a.read().astype(int) - b.read()).max()) <= 1  # bytes of p * 255: a rounding apart at most
    assert (one / f"{stem}_areas.csv").read_text() == (two / f"{stem}_areas.csv").read_text()
    first, second = gpd.read_file(one / f"{stem}_suggestions.gpkg"), gpd.read_file(two / f"{stem}_suggestions.gpkg")
    assert len(first) >= 5 and first.drop(columns="score").equals(second.drop(columns="score"))
    np.testing.assert_allclose(first.score, second.score, atol=1e-5)
    a, b = gpd.read_file(one / f"{stem}_polygons.gpkg"), gpd.read_file(two / f"{stem}_polygons.gpkg")
    assert len(a) == len(b) and a.geometry.geom_equals(b.geometry).all()


@pytest.mark.parametrize("model", ["network", "blend"])
def test_two_processes_predict_the_map_of_one_process_for_a_list_of_rasters(tmp_path, packages, rasters, model):
    optional = ("--polygons", "--suggest", "20", "--probabilities")
    one = _predict(packages[model], rasters, tmp_path / "one", *optional)
    assert one.returncode == 0, one.stderr
    two = _predict(packages[model], rasters, tmp_path / "two", *optional, "--devices", "2")
    assert two.returncode == 0, two.stderr
    for raster in rasters:
        _assert_same_map(tmp_path / "one", tmp_path / "two", raster.stem)
        with rasterio.open(raster) as src, rasterio.open(tmp_path / "two" / f"{raster.stem}_classes.tif") as out:
            assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)  # the input's grid, pixel for pixel
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted(p.name for p in (tmp_path / "two").iterdir())
    assert not [p for p in (tmp_path / "two").iterdir() if p.name.startswith(".") or p.name.endswith(".parts")]  # no parts, no rendezvous file
    start = [json.loads(line) for line in (tmp_path / "two" / "events.jsonl").read_text().splitlines()][0]
    assert start["processes"] == 2


def test_a_block_blends_the_windows_of_the_whole_grid_that_touch_it():
    grid = TileGrid(380, 560, TILE, 0.5)
    for block in plan_blocks(380, 560, BLOCK):
        sub = grid.covering(block.row, block.col, block.height, block.width)
        rows = [sub.origin[0] + r for r in sub.row_offsets]
        cols = [sub.origin[1] + c for c in sub.col_offsets]
        assert rows == [r for r in grid.row_offsets if r < block.row + block.height and r + TILE > block.row]
        assert cols == [c for c in grid.col_offsets if c < block.col + block.width and c + TILE > block.col]
        assert sub.origin[0] + sub.height >= block.row + block.height and sub.origin[1] + sub.width >= block.col + block.width
    assert [(b.row, b.col, b.height, b.width) for b in plan_blocks(380, 560, BLOCK)][-1] == (256, 512, 124, 48)


def test_a_killed_process_leaves_no_part_under_a_final_name_and_the_rerun_predicts_only_the_missing_blocks(tmp_path, packages, rasters):
    raster, out = rasters[0], tmp_path / "killed"
    blocks = len(plan_blocks(380, 560, BLOCK))
    parts = out / f"{raster.stem}.parts"
    command = [*SEMISEG, "predict", str(packages["network"]), str(raster), "--out", str(out), "--device", "cpu", "--quiet", "--events",
               "--block-size", str(BLOCK), "--batch-size", "4", "--devices", "2"]
    run = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while len(list(parts.glob("block*"))) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    children = Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()
    assert run.poll() is None and children, "the run ended before it could be killed"
    os.kill(int(children[0]), signal.SIGKILL)  # the second process, mid-run
    assert run.wait(timeout=120) != 0
    finished = sorted(p.name for p in parts.glob("block*"))
    assert 2 <= len(finished) < blocks
    for folder in parts.glob("block*"):  # a block under its final name is whole
        assert sorted(p.name for p in folder.iterdir()) == ["classes.tif", "confidence.tif", "doubt.npz"]
    assert not list(out.glob("*_classes.tif")) and not list(out.glob("*_confidence.tif"))

    rerun = _predict(packages["network"], [raster], out, "--devices", "2")
    assert rerun.returncode == 0, rerun.stderr
    resumed = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    resumed = [e for e in resumed if e["type"] == "phase" and e["phase"] == "resume"]
    assert [(e["blocks_done"], e["blocks"]) for e in resumed] == [(len(finished), blocks)]
    whole = _predict(packages["network"], [raster], tmp_path / "whole", "--devices", "2")
    assert whole.returncode == 0, whole.stderr
    for kind in ("classes", "confidence"):
        with rasterio.open(out / f"{raster.stem}_{kind}.tif") as a, rasterio.open(tmp_path / "whole" / f"{raster.stem}_{kind}.tif") as b:
            np.testing.assert_array_equal(a.read(), b.read())
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "whole").iterdir())  # the same files, no parts left
    for name in (f"{raster.stem}_areas.csv", f"{raster.stem}_classes.qml"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text()
    suggested, whole = gpd.read_file(out / f"{raster.stem}_suggestions.gpkg"), gpd.read_file(tmp_path / "whole" / f"{raster.stem}_suggestions.gpkg")
    assert suggested.equals(whole)


def test_a_changed_setting_starts_the_blocks_over_instead_of_mixing_two_predictions(tmp_path, packages, rasters):
    raster, out = rasters[1], tmp_path / "out"
    first = _predict(packages["network"], [raster], out)
    assert first.returncode == 0, first.stderr
    parts = out / f"{raster.stem}.parts"
    parts.mkdir()  # a finished block of another prediction (overlap 0.5) left behind
    (parts / "manifest.json").write_text(json.dumps({"key": {"overlap": 0.5}, "blocks": []}))
    (parts / "block000000").mkdir()
    again = _predict(packages["network"], [raster], out, "--overlap", "0.25")
    assert again.returncode == 0, again.stderr
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e.get("phase") == "resume"]
    alone = _predict(packages["network"], [raster], tmp_path / "alone", "--overlap", "0.25")
    with rasterio.open(out / f"{raster.stem}_confidence.tif") as a, rasterio.open(tmp_path / "alone" / f"{raster.stem}_confidence.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_a_block_size_that_splits_the_outputs_tiles_is_one_line_and_exit_2(tmp_path, packages, rasters):
    done = subprocess.run([*SEMISEG, "predict", str(packages["network"]), str(rasters[0]), "--out", str(tmp_path), "--block-size", "300"],
                          capture_output=True, text=True, env=ENV)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "--block-size 300" in done.stderr


class LocalNetwork(torch.nn.Module):
    """A real network that sees 5 x 5 pixels: away from a window's border its output does not
    depend on where the window lies, so a mosaic's map can be compared with its tiles' maps."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 3, 5, padding=2)

    def forward(self, x):
        return self.conv(x)


def _vrt(path: Path, sources: list[tuple[Path, int, int]], height: int, width: int) -> Path:
    """A GDAL VRT mosaic of GeoTIFFs placed at (row, col) of a `height` x `width` grid (one CRS)."""
    with rasterio.open(sources[0][0]) as first:
        crs, t = first.crs.to_wkt(), first.transform
        origin = t @ (-sources[0][2], -sources[0][1])
        bands = first.count
    band_xml = []
    for band in range(1, bands + 1):
        simple = []
        for source, row, col in sources:
            with rasterio.open(source) as ds:
                h, w = ds.height, ds.width
            simple.append(f'<SimpleSource><SourceFilename relativeToVRT="1">{source.name}</SourceFilename><SourceBand>{band}</SourceBand>'
                          f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/><DstRect xOff="{col}" yOff="{row}" xSize="{w}" ySize="{h}"/></SimpleSource>')
        band_xml.append(f'<VRTRasterBand dataType="Byte" band="{band}"><NoDataValue>0</NoDataValue>{"".join(simple)}</VRTRasterBand>')
    path.write_text(f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{crs}</SRS>'
                    f'<GeoTransform>{origin[0]}, {t.a}, 0, {origin[1]}, 0, {t.e}</GeoTransform>{"".join(band_xml)}</VRTDataset>')
    return path


def test_a_vrt_mosaic_of_geotiffs_is_one_map_equal_to_each_geotiff_alone_away_from_its_edges(tmp_path):
    from affine import Affine

    from semiseg.predict.raster import PredictOptions, WindowPredictor, predict_raster

    # Three tiles of different extents on one grid: two side by side, one below with a gap.
    placed = [(0, 0, 150, 200, 1), (100, 200, 160, 170, 2), (300, 40, 100, 150, 3)]
    sources = []
    for row, col, h, w, seed in placed:
        image, _ = two_class_scene(h, w, seed=seed)
        transform = Affine(2.0, 0, 500_000.0 + 2 * col, 0, -2.0, 5_000_000.0 - 2 * row)
        sources.append((write_raster(tmp_path / f"tile{seed}.tif", np.maximum(image, 1), transform, nodata=0), row, col))
    mosaic = _vrt(tmp_path / "mosaic.vrt", sources, 400, 400)
    predictor = WindowPredictor(LocalNetwork(), torch.device("cpu"), 4)
    card = _card()
    options = PredictOptions(0.5, block_size=BLOCK)
    whole = predict_raster(card, predictor, mosaic, tmp_path / "mosaic", options)
    with rasterio.open(whole.classes) as ds:
        assert ds.shape == (400, 400) and ds.transform == Affine(2.0, 0, 500_000.0, 0, -2.0, 5_000_000.0)
        classes = ds.read(1)
    with rasterio.open(whole.confidence) as ds:
        confidence = ds.read(1)
    covered = np.zeros((400, 400), bool)
    margin = TILE // 2
    for (source, row, col), (_, _, h, w, _) in zip(sources, placed):
        covered[row : row + h, col : col + w] = True
        alone = predict_raster(card, predictor, source, tmp_path / source.stem, options)
        with rasterio.open(alone.classes) as a, rasterio.open(alone.confidence) as c:
            inner = (slice(margin, h - margin), slice(margin, w - margin))
            mine = (slice(row + margin, row + h - margin), slice(col + margin, col + w - margin))
            assert (a.read(1)[inner] == classes[mine]).mean() >= 0.999
            assert float(np.abs(c.read(1)[inner] - confidence[mine]).max()) < 5e-3  # windows placed differently: weights at their borders
    assert (classes[~covered] == 255).all() and (confidence[~covered] == -1).all()  # the gaps stay nodata
    assert (classes[covered] != 255).all()
    seam = classes[100:150, 190:210]  # the two tiles side by side are blended across their seam: no nodata line
    assert (seam != 255).all()


def test_windows_read_by_loader_workers_give_the_map_read_here_bit_for_bit(tmp_path, rasters):
    from semiseg.predict.raster import PredictOptions, WindowPredictor, predict_raster

    predictor = WindowPredictor(LocalNetwork(), torch.device("cpu"), 4)
    maps = {}
    for workers in (0, 2):
        paths = predict_raster(_card(), predictor, rasters[1], tmp_path / f"w{workers}", PredictOptions(0.5, block_size=BLOCK, workers=workers))
        with rasterio.open(paths.classes) as cls, rasterio.open(paths.confidence) as conf:
            maps[workers] = cls.read(), conf.read()
    np.testing.assert_array_equal(maps[0][0], maps[2][0])
    np.testing.assert_array_equal(maps[0][1], maps[2][1])
    assert (maps[2][0] == 255).any()  # the nodata hole came through the workers too


def test_processes_torchrun_or_srun_started_meet_as_that_tool_says_not_through_one_of_their_files(monkeypatch):
    from semiseg.rendezvous import RENDEZVOUS_ENV, started_by_a_launcher

    for name in ("WORLD_SIZE", "SLURM_NTASKS", RENDEZVOUS_ENV):
        monkeypatch.delenv(name, raising=False)
    assert not started_by_a_launcher()  # `--devices 2` from a shell: the engine starts them, through a file
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert started_by_a_launcher()  # torchrun
    monkeypatch.setenv(RENDEZVOUS_ENV, "/tmp/x")
    assert not started_by_a_launcher()  # a process the engine itself started (it inherited the file)
    monkeypatch.delenv(RENDEZVOUS_ENV)
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert started_by_a_launcher()  # srun
