"""`semiseg export --onnx`: the exported graph gives the engine's own probabilities, and Deepness can read it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

from conftest import require_shared_data
from semiseg.cli import main
from semiseg.data.normalization import BandStats
from semiseg.models.network import build_network
from semiseg.models.onnx_export import INPUT_SCALE
from semiseg.models.package import ModelCard, load_package, save_package
from semiseg.predict.raster import WindowPredictor

TILE = 64


def _package(folder, bands: int, stats: BandStats, classes: int = 3, pixel_size_m: float | None = None):
    torch.manual_seed(0)
    names = [f"class {i}" for i in range(classes)]
    card = ModelCard(names, ["#102030"] * classes, list(range(1, bands + 1)), stats.mean, stats.std, "unet", "resnet18", bands, TILE, {"name": "supervised"}, pixel_size_m=pixel_size_m)
    save_package(folder, card, build_network("unet", "resnet18", bands, classes).eval())
    return folder


def _onnx_probabilities(path, raw: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": (raw / INPUT_SCALE).astype(np.float32)})[0]


@pytest.mark.parametrize("dataset,image", [
    ("aerial-dubai", "dubai_t1_p001.tif"),  # 3 bands
    ("s2-strzegom", "strzegom_20210619.tif"),  # 10 bands
    ("seismic-tgs-salt", "salt_mosaic_00.tif"),  # 1 band
])
def test_the_onnx_graph_gives_the_engines_probabilities_on_real_windows(tmp_path, dataset, image):
    path = require_shared_data(dataset) / "images" / image
    with rasterio.open(path) as ds:
        raw = np.stack([ds.read(window=Window(col, row, TILE, TILE)).astype(np.float32) for row, col in ((0, 0), (TILE, 2 * TILE), (3 * TILE, TILE))])
    bands = raw.shape[1]
    stats = BandStats([float(v) for v in raw.mean((0, 2, 3))], [float(v) + 1e-3 for v in raw.std((0, 2, 3))])
    model_dir = _package(tmp_path / "model", bands, stats)
    assert main(["export", str(model_dir), "--onnx", str(tmp_path / "m.onnx")]) == 0
    card, network = load_package(model_dir)
    valid = np.ones((len(raw), TILE, TILE), bool)
    expected = WindowPredictor(network, torch.device("cpu"), 8).probabilities(card.stats.apply(raw).astype(np.float32), valid)
    got = _onnx_probabilities(tmp_path / "m.onnx", raw)
    assert got.shape == (3, 3, TILE, TILE)  # a batch of three through a graph exported with one: dynamic batch
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_every_metadata_value_is_json_as_deepness_reads_it(tmp_path):
    import onnx

    model_dir = _package(tmp_path / "model", 3, BandStats([10.0, 20.0, 30.0], [2.0, 3.0, 4.0]), classes=2, pixel_size_m=0.3)
    assert main(["export", str(model_dir), "--onnx", str(tmp_path / "m.onnx")]) == 0
    meta = {m.key: json.loads(m.value) for m in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["model_type"] == "Segmentor" and meta["class_names"] == {"0": "class 0", "1": "class 1"}
    assert meta["tile_size"] == meta["tiles_size"] == TILE and meta["tiles_overlap"] == 50
    assert meta["resolution"] == 30.0  # cm per pixel
    assert meta["standardization_mean"] == [0.0] * 3 and meta["standardization_std"] == [1.0] * 3  # done inside the graph
    assert meta["semiseg_model"]["mean"] == [10.0, 20.0, 30.0] and meta["semiseg_model"]["arch"] == "unet"


def test_a_package_with_a_forest_is_refused_in_one_line(tmp_path, capsys):
    from semiseg.models.filter_bank import DEFAULT_SCALES
    from semiseg.models.forest import FOREST_ARCH, FOREST_ENCODER, fit_forest

    rng = np.random.default_rng(0)
    forest = fit_forest(rng.normal(size=(40, 4)).astype(np.float32), rng.integers(0, 2, 40), 2, 3, 0, DEFAULT_SCALES)
    card = ModelCard(["a", "b"], ["#000000", "#ffffff"], [1], [0.0], [1.0], FOREST_ARCH, FOREST_ENCODER, 1, 512, {"name": "pixel_forest"})
    save_package(tmp_path / "forest", card, forest)
    assert main(["export", str(tmp_path / "forest"), "--onnx", str(tmp_path / "f.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds a pixel forest" in err and len(err.splitlines()) == 1 and not (tmp_path / "f.onnx").exists()


def test_semiseg_predict_runs_an_exported_model_like_its_package(tmp_path):
    from conftest import two_class_scene, write_raster

    image, _ = two_class_scene(150, 170)
    raster = write_raster(tmp_path / "scene.tif", image)
    model_dir = _package(tmp_path / "model", 3, BandStats([120.0] * 3, [60.0] * 3), classes=2, pixel_size_m=2.0)
    assert main(["export", str(model_dir), "--onnx", str(tmp_path / "m.onnx")]) == 0
    for model, out in ((model_dir, "from_package"), (tmp_path / "m.onnx", "from_onnx")):  # the graph is float32
        assert main(["predict", str(model), str(raster), "--out", str(tmp_path / out), "--quiet", "--precision", "32"]) == 0
    with rasterio.open(tmp_path / "from_package" / "scene_classes.tif") as a, rasterio.open(tmp_path / "from_onnx" / "scene_classes.tif") as b:
        assert (a.transform, a.crs) == (b.transform, b.crs) and b.tags(1)["class_1"] == "class 1"
        assert (a.read(1) == b.read(1)).mean() > 0.999
    with rasterio.open(tmp_path / "from_package" / "scene_confidence.tif") as a, rasterio.open(tmp_path / "from_onnx" / "scene_confidence.tif") as b:
        np.testing.assert_allclose(a.read(1), b.read(1), atol=1e-4)


def test_an_onnx_file_not_made_by_semiseg_is_one_line(tmp_path, capsys):
    (tmp_path / "x.onnx").write_bytes(b"not a model")
    assert main(["predict", str(tmp_path / "x.onnx"), str(tmp_path / "r.tif"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "x.onnx: not an ONNX model" in err and len(err.splitlines()) == 1
