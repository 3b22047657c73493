"""onnxruntime computes a CPU prediction's network (predict/cpu_runtime.py, issue 39): the same
map as PyTorch's, chosen only where it can run, and said in the events."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
import torch.nn as nn

from conftest import require_shared_data, write_raster
from semiseg.cli import main
from semiseg.errors import UserError
from semiseg.models.blend import ForestBlend
from semiseg.models.context import ForestContext
from semiseg.models.filter_bank import DEFAULT_SCALES, feature_count
from semiseg.models.forest import fit_forest
from semiseg.models.network import build_network
from semiseg.models.package import ModelCard, save_package
from semiseg.predict.cpu_runtime import chosen_runtime
from semiseg.predict.parts import predictor_identity
from semiseg.predict.raster import WindowPredictor

TILE = 64
CPU = torch.device("cpu")


def _network(bands: int = 3, classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return build_network("unet", "resnet18", bands, classes).eval()


def _forest(bands: int = 3, classes: int = 3):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, feature_count(bands, DEFAULT_SCALES))).astype(np.float32)
    return fit_forest(features, (features[:, 1] > 0).astype(np.int64) + (features[:, 60] > 0), classes, 4, 0, DEFAULT_SCALES)


def _windows(count: int = 6, bands: int = 3):
    rng = np.random.default_rng(1)
    return rng.normal(size=(count, bands, TILE, TILE)).astype(np.float32), np.ones((count, TILE, TILE), bool)


def test_a_real_tile_is_mapped_by_onnxruntime_as_by_pytorch(tmp_path):
    """`semiseg predict --runtime onnxruntime` and `--runtime torch` on a real orthophoto crop:
    the same classes and confidence, and each run's events name the runtime that computed it."""
    folder = require_shared_data("aerial-dubai")
    with rasterio.open(folder / "images" / "dubai_t1_p001.tif") as ds:
        crop = ds.read([1, 2, 3], window=((0, 192), (0, 224)))
        raster = write_raster(tmp_path / "crop.tif", crop)
    mean, std = crop.reshape(3, -1).mean(1), crop.reshape(3, -1).std(1) + 1e-3
    card = ModelCard(["a", "b", "c"], ["#000000", "#ff0000", "#00ff00"], [1, 2, 3], mean.tolist(), std.tolist(), "unet", "resnet18", 3, TILE,
                     {"name": "supervised"})
    save_package(tmp_path / "model", card, _network())
    maps = {}
    for runtime in ("torch", "onnxruntime"):
        out = tmp_path / runtime
        assert main(["predict", str(tmp_path / "model"), str(raster), "--out", str(out), "--runtime", runtime, "--suggest", "0", "--quiet", "--events"]) == 0
        with rasterio.open(out / "crop_classes.tif") as c, rasterio.open(out / "crop_confidence.tif") as f:
            maps[runtime] = c.read(1), f.read(1).astype(np.int16), c.transform
        phases = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
        assert [e["runtime"] for e in phases if e.get("phase") == "predict"] == [runtime]
    (classes_t, confidence_t, transform_t), (classes_o, confidence_o, transform_o) = maps["torch"], maps["onnxruntime"]
    assert transform_t == transform_o
    assert (classes_t == classes_o).mean() >= 0.9999
    assert np.abs(confidence_t - confidence_o).max() <= 1  # the confidence is stored in steps of 1/255


def test_auto_gives_onnxruntime_a_float32_cpu_network_and_pytorch_the_rest():
    network = _network()
    predictor = WindowPredictor(network, CPU, 4, runtime="auto")
    assert predictor.runtime == "onnxruntime" and not predictor.channels_last
    assert WindowPredictor(network, CPU, 4).runtime == "torch"  # a model built in code runs as it is unless asked
    assert WindowPredictor(network, CPU, 4, bf16=True, runtime="auto").runtime == "torch"
    assert WindowPredictor(_forest(), CPU, 4, runtime="auto").runtime == "torch"  # a forest alone: no network
    assert chosen_runtime("auto", torch.device("cuda"), False, network) == "torch"
    with pytest.raises(UserError, match="^runtime onnxruntime: it computes in float32, the prediction was asked for in bfloat16; use runtime torch or auto$"):
        WindowPredictor(network, CPU, 4, bf16=True, runtime="onnxruntime")
    with pytest.raises(UserError, match="^runtime onnxruntime: it runs on the CPU here, the prediction on cuda"):
        chosen_runtime("onnxruntime", torch.device("cuda"), False, network)


def test_onnxruntime_computes_the_same_probabilities_for_every_kind_of_network():
    """A network alone (with test-time augmentation), a blend's network (its forest stays in
    PyTorch, computed per pixel) and a network reading a forest's map."""
    images, valid = _windows()
    blend = ForestBlend(_network(), _forest(), 0.5)
    context = ForestContext(_network(3 + 3), _forest())
    for model, tta in ((_network(), True), (blend, False), (context, False)):
        expected = WindowPredictor(model, CPU, 4, tta=tta).probabilities(images, valid)
        predictor = WindowPredictor(model, CPU, 4, tta=tta, runtime="onnxruntime")
        assert predictor.runtime == "onnxruntime"
        np.testing.assert_allclose(predictor.probabilities(images, valid), expected, atol=1e-4)
    assert WindowPredictor(blend, CPU, 4, runtime="onnxruntime").pixelwise.forest is blend.forest


class NotExportable(nn.Module):
    """A network with no ONNX form (as an smp architecture with an operator the exporter lacks)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            raise RuntimeError("operator unsupported_op has no ONNX form\nmore detail")
        return self.conv(x)


def test_a_network_that_does_not_export_stays_in_pytorch_under_auto_and_is_one_line_when_asked():
    torch.manual_seed(0)
    network = NotExportable().eval()
    images, valid = _windows(2)
    predictor = WindowPredictor(network, CPU, 4, runtime="auto")
    assert predictor.runtime == "torch" and predictor.network is network
    np.testing.assert_allclose(predictor.probabilities(images, valid), WindowPredictor(network, CPU, 4).probabilities(images, valid), atol=1e-6)
    with pytest.raises(UserError, match="^runtime onnxruntime: the network does not export to ONNX [(]operator unsupported_op has no ONNX form[)]; use runtime torch or auto$"):
        WindowPredictor(network, CPU, 4, runtime="onnxruntime")


def test_a_prediction_resumed_under_another_runtime_is_not_taken_for_the_same_one():
    network = _network()
    assert predictor_identity(WindowPredictor(network, CPU, 4)) != predictor_identity(WindowPredictor(network, CPU, 4, runtime="onnxruntime"))


def test_an_exported_onnx_file_is_run_by_its_own_session(tmp_path):
    save_package(tmp_path / "model", ModelCard(["a", "b", "c"], ["#000000"] * 3, [1, 2, 3], [0.0] * 3, [1.0] * 3, "unet", "resnet18", 3, TILE,
                                               {"name": "supervised"}), _network())
    assert main(["export", str(tmp_path / "model"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    from semiseg.predict.raster import load_predictor

    from semiseg.predict.onnx_model import OnnxNetwork

    _, predictor = load_predictor(tmp_path / "m.onnx", "cpu", 4, runtime="auto")
    assert predictor.runtime == "onnxruntime" and isinstance(predictor.network, OnnxNetwork)  # its graph, not exported a second time
