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
    assert meta["seg_thresh"] == 0 and meta["seg_small_segment"] == 0  # Deepness's threshold and median filter off
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


# --- Deepness's map of an exported file -------------------------------------------------------
# Deepness 0.6.5 (PUTvision/qgis-plugin-deepness at f450c63, 2024-12-10), reimplemented in numpy from:
#   src/deepness/deepness_dockwidget.py, _load_default_model_parameters and get_segmentation_parameters
#     (a seg_thresh / seg_small_segment of 0 unticks the box, so 0 is used; an absent key keeps the
#     dock's own value: src/deepness/common/config_entry_key.py, threshold 0.5 and size 9, both ticked);
#   src/deepness/processing/models/model_base.py, ModelBase.preprocessing (first C bands, / 255,
#     (x - standardization_mean) / standardization_std, NHWC -> NCHW) and the get_metadata_* readers;
#   src/deepness/processing/extent_utils.py, calculate_extended_processing_extent (the layer grown at its
#     right and top edges to tile + n * stride, stride = tile - overlap, overlap of tiles_overlap percent);
#   src/deepness/processing/tile_params.py, TileParams.get_slice_on_full_image_for_copying (a tile keeps
#     its centre, less half the overlap on each inner side);
#   src/deepness/processing/map_processor/map_processor_segmentation.py, _process_tile (probabilities
#     under the threshold set to 0, argmax + 1, so all-zero pixels land in the first class) and _run
#     (an odd median filter of (size // 2) * 2 + 1 px over the class map: OpenCV's medianBlur, edges
#     replicated, a no-op at 1).
DEEPNESS_DEFAULT_THRESHOLD = 0.5
DEEPNESS_DEFAULT_SMALL_SEGMENT = 9


def _deepness_settings(meta: dict[str, str]) -> tuple[float, int]:
    """The threshold and small-segment size Deepness processes with after "Load default parameters"."""
    threshold = float(json.loads(meta["seg_thresh"])) if "seg_thresh" in meta else DEEPNESS_DEFAULT_THRESHOLD
    small = int(json.loads(meta["seg_small_segment"])) if "seg_small_segment" in meta else DEEPNESS_DEFAULT_SMALL_SEGMENT
    return threshold, small


def _median(classes: np.ndarray, size: int) -> np.ndarray:
    """A size x size median of a uint8 map with replicated edges (what medianBlur computes)."""
    if size <= 1:
        return classes
    r = size // 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(classes, r, mode="edge"), (size, size))
    flat = windows.reshape(*classes.shape, size * size)
    return np.partition(flat, size * size // 2, axis=-1)[..., size * size // 2]


def _deepness_map(path, image: np.ndarray, meta: dict[str, str]) -> np.ndarray:
    """Class ids (0-based) that Deepness draws for `image` (bands, H, W uint8, at the model's resolution)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    channels = session.get_inputs()[0].shape[1]
    tile = session.get_inputs()[0].shape[-1]  # the dock takes the tile from the input's shape
    overlap = int(tile * json.loads(meta["tiles_overlap"]) / 100 * 2) // 2
    stride = tile - overlap
    mean = np.asarray(json.loads(meta["standardization_mean"]), np.float32)
    std = np.asarray(json.loads(meta["standardization_std"]), np.float32)
    threshold, small = _deepness_settings(meta)
    _, height, width = image.shape

    def missing(n):  # pixels added to reach tile + k * stride
        return tile - n if n <= tile else (stride - (n - tile) % stride) % stride

    top, right = missing(height), missing(width)
    extended = np.pad(image, ((0, 0), (top, 0), (0, right)))  # outside the layer Deepness reads zeros
    rows, cols = (extended.shape[1] - tile) // stride + 1, (extended.shape[2] - tile) // stride + 1
    full = np.zeros(extended.shape[1:], np.uint8)
    half = max((tile - stride) // 2, 0)
    for yb in range(rows):
        for xb in range(cols):
            y0, x0 = yb * stride, xb * stride
            x = extended[:channels, y0:y0 + tile, x0:x0 + tile].transpose(1, 2, 0)[None]
            x = (np.float32(x * (1.0 / 255.0)) - mean) / std
            (probabilities,) = session.run(None, {session.get_inputs()[0].name: x.transpose(0, 3, 1, 2).astype(np.float32)})
            probabilities = probabilities.copy()
            probabilities[probabilities < threshold] = 0.0
            classes = probabilities.argmax(1)[0] + 1
            ya, yz = y0 + (0 if yb == 0 else half), y0 + tile - (0 if yb == rows - 1 else half)
            xa, xz = x0 + (0 if xb == 0 else half), x0 + tile - (0 if xb == cols - 1 else half)
            full[ya:yz, xa:xz] = classes[ya - y0:yz - y0, xa - x0:xz - x0]
    full = _median(full, (small // 2) * 2 + 1)
    return full[top:top + height, :width].astype(np.int64) - 1


def _quickly_trained_aerial_package(folder, train_image: np.ndarray, train_labels: np.ndarray, tile: int, steps: int):
    """A U-Net trained for a few steps on a real labelled Dubai tile: unsure on many pixels (the
    case a probability threshold changes), as a user's first model is."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    names = ["water", "land", "road", "building", "vegetation"]
    bands = train_image.shape[0]
    flat = train_image.reshape(bands, -1).astype(np.float64)
    stats = BandStats([float(v) for v in flat.mean(1)], [float(v) for v in flat.std(1)])
    network = build_network("unet", "resnet18", bands, len(names))
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    x_all = torch.from_numpy(stats.apply(train_image.astype(np.float32)).astype(np.float32))
    y_all = torch.from_numpy(train_labels.astype(np.int64))
    network.train()
    for _ in range(steps):
        corners = [(rng.integers(0, train_image.shape[1] - tile), rng.integers(0, train_image.shape[2] - tile)) for _ in range(4)]
        x = torch.stack([x_all[:, r:r + tile, c:c + tile] for r, c in corners])
        y = torch.stack([y_all[r:r + tile, c:c + tile] for r, c in corners])
        loss = torch.nn.functional.cross_entropy(network(x), y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    card = ModelCard(names, ["#1f78b4", "#d9c89e", "#7f7f7f", "#e31a1c", "#33a02c"], list(range(1, bands + 1)), stats.mean, stats.std,
                     "unet", "resnet18", bands, tile, {"name": "supervised"}, pixel_size_m=0.5)
    save_package(folder, card, network.eval())
    return folder


def _set_metadata(path, **entries) -> None:
    """Rewrite some metadata of an exported file (None drops the key): an older export's file."""
    import onnx

    model = onnx.load(str(path))
    kept = [(m.key, m.value) for m in model.metadata_props if m.key not in entries]
    del model.metadata_props[:]
    for key, value in kept + [(k, json.dumps(v)) for k, v in entries.items() if v is not None]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def test_deepness_draws_semiseg_predicts_map_of_the_exported_file_on_a_real_aerial_tile(tmp_path):
    """What a Deepness user gets, loading the file and pressing "Load default parameters", is the
    map `semiseg predict` makes of the same file (the rest: unsure pixels on which overlapping
    windows disagree, as Deepness takes each pixel from one window's centre and SemiSeg blends
    the windows' probabilities); the same file with the old
    export's seg_thresh 0.5 and no seg_small_segment is not, which is what the keys are for."""
    import onnxruntime as ort

    data = require_shared_data("aerial-dubai")
    with rasterio.open(data / "images" / "dubai_t1_p002.tif") as ds, rasterio.open(data / "labels" / "dubai_t1_p002.tif") as lab:
        train_image, train_labels = ds.read(), lab.read(1)
    model_dir = _quickly_trained_aerial_package(tmp_path / "model", train_image, train_labels, tile=128, steps=25)
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(model_dir), "--onnx", str(onnx_path)]) == 0
    raster = data / "images" / "dubai_t1_p001.tif"  # not the tile it trained on
    assert main(["predict", str(onnx_path), str(raster), "--out", str(tmp_path / "semiseg"), "--quiet", "--precision", "32"]) == 0
    with rasterio.open(tmp_path / "semiseg" / "dubai_t1_p001_classes.tif") as ds:
        semiseg_map = ds.read(1).astype(np.int64)
    with rasterio.open(raster) as ds:
        image, pixel_cm = ds.read(), ds.res[0] * 100

    meta = dict(ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map)
    assert json.loads(meta["resolution"]) == pixel_cm  # Deepness resamples to it: none here, none in _deepness_map
    assert _deepness_settings(meta) == (0.0, 0)
    agreement = (_deepness_map(onnx_path, image, meta) == semiseg_map).mean()
    assert len(np.unique(semiseg_map)) >= 3  # a map with classes to disagree on, not one class everywhere
    assert agreement >= 0.99, agreement

    _set_metadata(onnx_path, seg_thresh=0.5, seg_small_segment=None)
    old_meta = dict(ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map)
    old_agreement = (_deepness_map(onnx_path, image, old_meta) == semiseg_map).mean()
    print(f"Deepness = semiseg predict on {agreement:.4f} of the pixels; with the old metadata on {old_agreement:.4f}")
    assert old_agreement < 0.99, old_agreement
