"""Sliding-window prediction: full coverage, seamless blending, exact georeference, nodata kept."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import rasterio
import torch
import torch.nn as nn
from affine import Affine

from conftest import CLASSES, two_class_scene, write_raster
from semiseg.errors import UserError
from semiseg.models.network import build_network
from semiseg.models.package import ModelCard
from semiseg.predict.raster import PredictOptions, WindowPredictor, iter_strips, predict_raster
from semiseg.predict.tiling import TileGrid, axis_offsets
from semiseg.io.rasters import raster_info, open_raster, read_window
from rasterio.windows import Window


def test_offsets_cover_the_axis_and_snap_the_last_window():
    assert axis_offsets(100, 32, 0.5) == [0, 16, 32, 48, 64, 68]
    assert axis_offsets(20, 32, 0.5) == [0]
    assert axis_offsets(64, 32, 0.0) == [0, 32]


def _card(tile=32, bands=3):
    return ModelCard([c["name"] for c in CLASSES], [c["color"] for c in CLASSES], list(range(1, bands + 1)), [0.0] * bands, [255.0] * bands, "unet", "resnet18", bands, tile, {"name": "supervised"})


class PositionSensitive(nn.Module):
    """A real network whose output depends on where a pixel sits in its window (as padding makes CNNs do)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 2, 5, padding=2)

    def forward(self, x):
        return self.conv(x)


def test_strip_blending_equals_blending_the_whole_raster_in_memory(tmp_path):
    image, _ = two_class_scene(70, 90)
    path = write_raster(tmp_path / "x.tif", image)
    info, card = raster_info(path), _card()
    grid = TileGrid(info.height, info.width, card.tile_size, 0.5)
    predictor = WindowPredictor(PositionSensitive(), torch.device("cpu"), 4)

    probs = np.zeros((2, info.height, info.width))
    weights = np.zeros((info.height, info.width))
    with open_raster(path) as ds:
        for r in grid.row_offsets:
            for c in grid.col_offsets:
                data, valid = read_window(ds, Window(c, r, 32, 32), card.bands)
                p = predictor.probabilities(card.stats.apply(data)[None].astype(np.float32), valid[None])[0]
                probs[:, r : r + 32, c : c + 32] += p * grid.weight
                weights[r : r + 32, c : c + 32] += grid.weight
        expected = probs / weights
        rows = list(iter_strips(ds, info, card, predictor, grid))
    got = np.concatenate([r.confidence for r in rows])
    assert [r.top for r in rows] == sorted(r.top for r in rows) and got.shape == (70, 90)
    np.testing.assert_allclose(got, expected.max(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.concatenate([r.probabilities for r in rows], 1), expected, rtol=1e-5, atol=1e-6)


def test_blended_windows_match_one_pass_over_the_whole_raster(tmp_path):
    """No seams: window edges (where zero padding bends a CNN's output) must barely count.

    Equal weights for every window pixel give 0.0074 mean and 0.093 largest error here."""
    image, _ = two_class_scene(70, 90)
    path = write_raster(tmp_path / "x.tif", image)
    network = PositionSensitive()
    paths = predict_raster(_card(tile=32), WindowPredictor(network, torch.device("cpu"), 4), path, tmp_path / "out", PredictOptions(0.5))
    with torch.no_grad():
        whole = network(torch.from_numpy(image.astype(np.float32) / 255.0)[None]).softmax(1)[0].numpy().max(0)
    with rasterio.open(paths.confidence) as conf:
        error = np.abs(conf.read(1) - whole)
    assert error.mean() < 0.002 and error.max() < 0.05


@pytest.mark.parametrize("georeferenced", [True, False])
def test_outputs_share_the_input_grid_exactly_and_keep_nodata(tmp_path, georeferenced):
    image, _ = two_class_scene(75, 83)
    image[:, 10:20, 30:50] = 0  # a nodata hole
    kwargs = {} if georeferenced else {"transform": None, "crs": None}
    path = write_raster(tmp_path / "in.tif", image, nodata=0, **kwargs)
    predictor = WindowPredictor(PositionSensitive(), torch.device("cpu"), 4)
    paths = predict_raster(_card(), predictor, path, tmp_path / "out", PredictOptions(0.25, probabilities=True))
    with rasterio.open(path) as src, rasterio.open(paths.classes) as cls, rasterio.open(paths.confidence) as conf, rasterio.open(paths.probabilities) as prob:
        for out in (cls, conf, prob):
            assert (out.width, out.height) == (src.width, src.height)
            assert out.crs == src.crs and out.transform == src.transform
        nodata = ~(src.read_masks(1) > 0)
        classes, confidence = cls.read(1), conf.read(1)
        assert cls.nodata == 255 and conf.nodata == -1
        np.testing.assert_array_equal(classes == 255, nodata)
        np.testing.assert_array_equal(confidence == -1, nodata)
        assert set(np.unique(classes[~nodata])) <= {0, 1}
        assert (confidence[~nodata] >= 0.5).all() and (confidence[~nodata] <= 1).all()
        assert cls.colormap(1)[1][:3] == (0xF0, 0xF0, 0xF0)
        p = prob.read().astype(np.float64) / 255  # every class's probability, 0 on nodata
        assert prob.count == 2 and (p[:, nodata] == 0).all()
        np.testing.assert_array_equal(p[:, ~nodata].argmax(0), classes[~nodata])
        np.testing.assert_allclose(p[:, ~nodata].max(0), confidence[~nodata], atol=0.5 / 255 + 1e-6)
    qml = paths.classes_style.read_text()
    assert 'label="bright"' in qml and 'color="#f0f0f0"' in qml and 'type="paletted"' in qml
    assert not list((tmp_path / "out").glob(".*partial*"))


def test_classes_and_confidence_are_cloud_optimized_geotiffs_with_overviews(tmp_path):
    from rio_cogeo.cogeo import cog_validate

    image, _ = two_class_scene(600, 700)
    path = write_raster(tmp_path / "big.tif", image)
    paths = predict_raster(_card(), WindowPredictor(PositionSensitive(), torch.device("cpu"), 4), path, tmp_path / "out", PredictOptions(0.25))
    for out in (paths.classes, paths.confidence):
        valid, errors, _ = cog_validate(str(out), strict=True)
        assert valid, (out.name, errors)
        with rasterio.open(out) as ds:
            assert ds.overviews(1) and ds.block_shapes[0] == (256, 256)
    with rasterio.open(paths.classes) as cls:
        assert cls.colormap(1)[1][:3] == (0xF0, 0xF0, 0xF0) and cls.tags(1)["class_1"] == "bright"
        assert cls.nodata == 255
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no scratch file left


def test_a_prediction_reports_the_area_of_each_class_of_its_map(tmp_path):
    import json

    from semiseg.predict.class_areas import class_areas

    image, _ = two_class_scene(75, 83)
    image[:, 10:20, 30:50] = 0  # nodata: no class, no area
    path = write_raster(tmp_path / "in.tif", image, nodata=0)
    paths = predict_raster(_card(), WindowPredictor(PositionSensitive(), torch.device("cpu"), 4), path, tmp_path / "out", PredictOptions(0.25))
    assert ("areas", paths.areas_json) in paths.outputs() and paths.areas.read_text().startswith("zone,class_id,class,pixels")
    rows = json.loads(paths.areas_json.read_text())["rows"]
    assert rows == class_areas(paths.classes, paths.confidence)  # what `semiseg stats` says of the map
    with rasterio.open(paths.classes) as ds:
        ids = ds.read(1)
        pixel_m2 = abs(ds.transform.determinant)
    assert [r["pixels"] for r in rows] == [int((ids == c).sum()) for c in range(len(CLASSES))]
    assert sum(r["pixels"] for r in rows) == 75 * 83 - 10 * 20
    assert [r["area_m2"] for r in rows] == [pytest.approx(r["pixels"] * pixel_m2) for r in rows]


def test_nan_is_nodata_but_a_pixel_missing_in_one_band_only_is_still_mapped(tmp_path):
    """Float rasters mark gaps with NaN; one missing band must not blank a pixel, nor NaN spread."""
    image, _ = two_class_scene(75, 83)
    data = image.astype(np.float32)
    data[:, 5:15, 5:25] = np.nan  # no value in any band
    data[1, 40:50, 40:60] = np.nan  # one band missing
    path = write_raster(tmp_path / "f.tif", data)
    paths = predict_raster(_card(), WindowPredictor(PositionSensitive(), torch.device("cpu"), 4), path, tmp_path / "out", PredictOptions(0.25))
    with rasterio.open(paths.classes) as cls, rasterio.open(paths.confidence) as conf:
        classes, confidence = cls.read(1), conf.read(1)
    gap = np.zeros(classes.shape, bool)
    gap[5:15, 5:25] = True
    np.testing.assert_array_equal(classes == 255, gap)
    np.testing.assert_array_equal(confidence == -1, gap)
    assert np.isfinite(confidence).all() and (confidence[~gap] >= 0.5).all()


class Pointwise(nn.Module):
    """A network that sees each pixel alone: its prediction does not depend on the tiling."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.conv(x)


AREA_ROWS, AREA_COLS = slice(7, 48), slice(20, 61)  # 41 x 41 pixels, more than one tile


def _predict_area(tmp_path, network, **raster_kwargs):
    """Whole-raster and area predictions of one scene: (whole outputs, area outputs, transform)."""
    image, _ = two_class_scene(75, 83)
    path = write_raster(tmp_path / "in.tif", image, **raster_kwargs)
    predictor = WindowPredictor(network, torch.device("cpu"), 4)
    full = predict_raster(_card(), predictor, path, tmp_path / "full", PredictOptions(0.25))
    t = raster_info(path).label_transform
    # Corners a fraction of a pixel inside the area's edges: the covering pixels are the area.
    (xa, ya), (xb, yb) = t @ (AREA_COLS.start + 0.3, AREA_ROWS.stop - 0.2), t @ (AREA_COLS.stop - 0.4, AREA_ROWS.start + 0.1)
    bounds = (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))
    part = predict_raster(_card(), predictor, path, tmp_path / "part", PredictOptions(0.25, bounds=bounds))
    return full, part, t


@pytest.mark.parametrize("grid", ["north-up", "south-up", "no georeference"])
def test_an_area_is_predicted_on_the_rasters_own_grid_pixel_for_pixel(tmp_path, grid):
    kwargs = {
        "north-up": {},
        "south-up": {"transform": Affine(2.0, 0.0, 500_000.0, 0.0, 2.0, 4_000_000.0)},
        "no georeference": {"transform": None, "crs": None},
    }[grid]
    full, part, t = _predict_area(tmp_path, Pointwise(), **kwargs)
    with rasterio.open(full.classes) as whole, rasterio.open(part.classes) as cls, rasterio.open(part.confidence) as conf:
        for out in (cls, conf):
            assert (out.height, out.width) == (41, 41) and out.crs == whole.crs
            assert out.transform == t @ Affine.translation(AREA_COLS.start, AREA_ROWS.start)
        np.testing.assert_array_equal(cls.read(1), whole.read(1)[AREA_ROWS, AREA_COLS])
        with rasterio.open(full.confidence) as whole_conf:
            np.testing.assert_allclose(conf.read(1), whole_conf.read(1)[AREA_ROWS, AREA_COLS], rtol=1e-5)


def test_pixels_at_an_areas_border_are_predicted_with_the_raster_around_them(tmp_path):
    # A network that sees 5x5 neighbourhoods: without context beyond the area, its border pixels
    # would be predicted as at a raster edge (confidence off by ~0.1, classes flipped).
    full, part, _ = _predict_area(tmp_path, PositionSensitive())
    with rasterio.open(full.classes) as whole, rasterio.open(part.classes) as cls:
        np.testing.assert_array_equal(cls.read(1), whole.read(1)[AREA_ROWS, AREA_COLS])
    with rasterio.open(full.confidence) as whole, rasterio.open(part.confidence) as conf:
        np.testing.assert_allclose(conf.read(1), whole.read(1)[AREA_ROWS, AREA_COLS], atol=0.02)


def test_a_raster_smaller_than_a_window_is_predicted_whole_on_its_grid(tmp_path):
    image, _ = two_class_scene(20, 25)
    path = write_raster(tmp_path / "small.tif", image)
    network = Pointwise()
    paths = predict_raster(_card(tile=32), WindowPredictor(network, torch.device("cpu"), 4), path, tmp_path / "out")
    with torch.no_grad():
        probs = network(torch.from_numpy(image.astype(np.float32) / 255.0)[None]).softmax(1)[0].numpy()
    with rasterio.open(path) as src, rasterio.open(paths.classes) as cls, rasterio.open(paths.confidence) as conf:
        assert (cls.height, cls.width) == (20, 25) and cls.transform == src.transform
        np.testing.assert_array_equal(cls.read(1), probs.argmax(0))
        np.testing.assert_allclose(conf.read(1), probs.max(0), rtol=1e-5)


def test_an_area_outside_the_raster_is_a_user_error_naming_the_file(tmp_path):
    image, _ = two_class_scene(40, 40)
    path = write_raster(tmp_path / "in.tif", image)
    predictor = WindowPredictor(Pointwise(), torch.device("cpu"), 4)
    west, _, _, north = rasterio.open(path).bounds
    with pytest.raises(UserError, match=r"in\.tif: --bounds .* do not overlap the raster"):
        predict_raster(_card(), predictor, path, tmp_path / "out", PredictOptions(bounds=(west - 100, north + 10, west - 50, north + 60)))
    with pytest.raises(UserError, match="XMIN < XMAX"):
        predict_raster(_card(), predictor, path, tmp_path / "out", PredictOptions(bounds=(west + 10, north - 5, west, north)))
    with pytest.raises(UserError, match="finite"):
        predict_raster(_card(), predictor, path, tmp_path / "out", PredictOptions(bounds=(west, north - 5, float("inf"), north)))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_predict_precision_is_float32_on_a_cpu_unless_bfloat16_is_asked_for(tmp_path, monkeypatch):
    """`inference.precision` (`semiseg predict --precision`): auto is float32 on any CPU (bfloat16
    only on a GPU that has it), bf16 asks for bfloat16, 32 is float32 everywhere (what an
    exported ONNX graph computes)."""
    from semiseg.cli import main
    from semiseg.devices import uses_bf16
    from semiseg.models.package import save_package
    from semiseg.predict.raster import load_predictor

    cpu = torch.device("cpu")
    monkeypatch.setattr("semiseg.devices.cpu_has_native_bf16", lambda: False)
    assert not uses_bf16("auto", cpu) and uses_bf16("bf16", cpu) and not uses_bf16("32", cpu)
    monkeypatch.setattr("semiseg.devices.cpu_has_native_bf16", lambda: True)
    assert not uses_bf16("auto", cpu) and uses_bf16("bf16", cpu) and not uses_bf16("32", cpu)
    torch.manual_seed(0)
    model = tmp_path / "model"
    card = ModelCard(["dark", "bright"], ["#000000", "#ffffff"], [1, 2, 3], [120.0] * 3, [60.0] * 3, "unet", "resnet18", 3, 64, {"name": "supervised"})
    save_package(model, card, build_network("unet", "resnet18", 3, 2).eval())
    assert load_predictor(model, "cpu", 4, "bf16")[1].autocast and not load_predictor(model, "cpu", 4, "auto")[1].autocast
    raster = write_raster(tmp_path / "scene.tif", two_class_scene(96, 96)[0])
    maps = {}
    for precision in ("32", "bf16"):
        assert main(["predict", str(model), str(raster), "--out", str(tmp_path / precision), "--quiet", "--precision", precision]) == 0
        with rasterio.open(tmp_path / precision / "scene_confidence.tif") as ds:
            maps[precision] = ds.read(1)
    assert not np.array_equal(maps["32"], maps["bf16"]) and np.abs(maps["32"] - maps["bf16"]).max() < 0.05


def test_test_time_augmentation_makes_the_prediction_independent_of_the_windows_orientation():
    """With `tta` a window turned or flipped is predicted as the same map turned or flipped (the
    dihedral average), which the network alone does not do; the mean stays a probability."""
    from semiseg.predict.raster import DIHEDRAL, _turned

    torch.manual_seed(1)
    window = np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32)
    valid = np.ones((1, 32, 32), bool)
    plain = WindowPredictor(PositionSensitive(), torch.device("cpu"), 4)
    averaged = WindowPredictor(PositionSensitive(), torch.device("cpu"), 4, tta=True)
    p, q = plain.probabilities(window, valid), averaged.probabilities(window, valid)
    np.testing.assert_allclose(q.sum(1), 1.0, atol=1e-5)
    for turns, flip in DIHEDRAL[1:]:
        moved = _turned(torch.from_numpy(window), turns, flip).numpy()
        expected = _turned(torch.from_numpy(q), turns, flip).numpy()
        np.testing.assert_allclose(averaged.probabilities(moved, valid), expected, atol=1e-5)
        assert not np.allclose(plain.probabilities(moved, valid), _turned(torch.from_numpy(p), turns, flip).numpy(), atol=1e-3)


def test_a_cpu_predicts_in_channels_last_with_the_classes_of_the_nchw_network(tmp_path):
    """On a CPU the network runs on channels-last tensors (1.4x faster with oneDNN): the same map
    as the network in its NCHW layout, on a real U-Net/ResNet-18 whose head centres its classes."""
    image, _ = two_class_scene(150, 170)
    path = write_raster(tmp_path / "x.tif", image)
    torch.manual_seed(0)
    network = build_network("unet", "resnet18", 3, 2).eval()
    with torch.no_grad():
        network.segmentation_head[0].bias.sub_(network(torch.from_numpy(image[None, :, :64, :64].astype(np.float32) / 255)).mean((0, 2, 3)))
    nchw = WindowPredictor(copy.deepcopy(network), torch.device("cpu"), 4)
    nchw.channels_last = False
    nchw.network.to(memory_format=torch.contiguous_format)
    fast = WindowPredictor(network, torch.device("cpu"), 4)
    assert fast.channels_last and network.encoder.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    maps = []
    for name, predictor in (("nchw", nchw), ("fast", fast)):
        paths = predict_raster(_card(tile=64), predictor, path, tmp_path / name, PredictOptions(0.5))
        with rasterio.open(paths.classes) as c, rasterio.open(paths.confidence) as f:
            maps.append((c.read(1), f.read(1)))
    (classes, confidence), (fast_classes, fast_confidence) = maps
    assert 0.1 < classes.mean() < 0.9  # both classes on the map: agreement is not trivial
    assert (classes == fast_classes).mean() >= 0.999
    assert np.abs(confidence - fast_confidence).max() < 1e-3
