"""The pixel forest's speed-ups (issue 39) change no feature and load every package.

The filter bank shares its separable passes (models/filter_bank.py); `_reference_features`
below is the bank as it was before, frozen here as the test's oracle: the new bank must give
the same 147 features within 1e-5 on a real aerial tile, nodata and the coarse scales included.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F

from conftest import require_shared_data
from method_helpers import one_thread  # noqa: F401 (autouse fixture)
from semiseg.models.filter_bank import DEFAULT_SCALES, feature_names, filter_features
from semiseg.models.forest import PixelForest, fit_forest
from semiseg.models.package import ModelCard, load_package, save_package
from semiseg.train.methods.pixel_forest import PixelForestParams


# ----------------------------------------------------------------------------- the oracle
# TEST-ONLY ORACLE: the filter bank of models/filter_bank.py before issue 39 (commit 4b53e16),
# copied unchanged: one replicate-padded grouped convolution per 1-D pass, 24 passes per scale.
# It is slow on purpose and must not be "improved": it is what the fast bank is checked against.

def _reference_radius(sigma: float) -> int:
    return max(1, math.ceil(3 * sigma))


def _reference_kernels(sigma: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r = _reference_radius(sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    d1 = -t / sigma**2 * g
    d1 = d1 - d1.mean()
    d2 = (t**2 / sigma**4 - 1 / sigma**2) * g
    d2 = d2 - d2.mean()
    return g, d1, d2


def _reference_separable(x: torch.Tensor, along_rows: torch.Tensor, along_cols: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    r = (along_rows.numel() - 1) // 2
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, along_rows.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, along_cols.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def _reference_eigenvalues(xx, yy, xy):
    mean = (xx + yy) / 2
    spread = torch.sqrt(((xx - yy) / 2) ** 2 + xy**2)
    return mean + spread, mean - spread


def _reference_fill_nodata(x: torch.Tensor, valid: torch.Tensor, sigma: float) -> torch.Tensor:
    if bool(valid.all()):
        return x
    m = valid[:, None].to(x.dtype)
    g, _, _ = _reference_kernels(sigma)
    weighted = _reference_separable(x * m, g, g)
    weight = _reference_separable(m, g, g)
    estimate = torch.where(weight > 1e-6, weighted / weight.clamp_min(1e-6), torch.zeros_like(weighted))
    return torch.where(m > 0, x, estimate)


def _reference_coarse_factor(sigma: float) -> int:
    f = 1
    while sigma / (2 * f) >= 1.6:
        f *= 2
    return f


def _reference_scale_features(x: torch.Tensor, sigma: float) -> torch.Tensor:
    g, d1, d2 = _reference_kernels(sigma)
    smooth = _reference_separable(x, g, g)
    gx, gy = _reference_separable(x, g, d1), _reference_separable(x, d1, g)
    gxx, gyy, gxy = _reference_separable(x, g, d2), _reference_separable(x, d2, g), _reference_separable(x, d1, d1)
    g_inner = _reference_kernels(0.66 * sigma)[0]
    inner = _reference_separable(x, g_inner, g_inner)
    h_max, h_min = _reference_eigenvalues(gxx, gyy, gxy)
    gi, di, _ = _reference_kernels(max(0.5, sigma / 2))
    ix, iy = _reference_separable(x, gi, di), _reference_separable(x, di, gi)
    s_max, s_min = _reference_eigenvalues(_reference_separable(ix * ix, g, g), _reference_separable(iy * iy, g, g), _reference_separable(ix * iy, g, g))
    return torch.stack([smooth, gxx + gyy, torch.sqrt(gx**2 + gy**2), smooth - inner, h_max, h_min, s_max, s_min], dim=2)


@torch.no_grad()
def _reference_features(x: torch.Tensor, valid: torch.Tensor, scales: tuple[float, ...]) -> torch.Tensor:
    x = _reference_fill_nodata(x.float(), valid, max(scales))
    n, c, h, w = x.shape
    per_scale = []
    for sigma in scales:
        f = _reference_coarse_factor(sigma)
        coarse = F.avg_pool2d(x, f, ceil_mode=True) if f > 1 else x
        features = _reference_scale_features(coarse, sigma / f)
        if f > 1:
            hc, wc = features.shape[-2:]
            fine = F.interpolate(features.flatten(1, 2), size=(hc * f, wc * f), mode="bilinear", align_corners=False)
            features = fine[..., :h, :w].reshape(n, c, 8, h, w)
        per_scale.append(features)
    features = torch.cat([x[:, :, None]] + per_scale, dim=2)
    return features.reshape(n, c * (1 + 8 * len(scales)), h, w)


# ----------------------------------------------------------------------------- the tests

def _real_tile(rows: int = 300, cols: int = 260) -> torch.Tensor:
    """A crop of a real aerial orthophoto (uneven size: the coarse grids' last cells are cropped), normalized."""
    folder = require_shared_data("aerial-dubai")
    with rasterio.open(folder / "images" / "dubai_t3_p001.tif") as ds:
        image = ds.read(window=((40, 40 + rows), (60, 60 + cols))).astype(np.float32)
    return torch.from_numpy((image - image.mean((1, 2), keepdims=True)) / image.std((1, 2), keepdims=True))[None]


@pytest.mark.parametrize("scales", [DEFAULT_SCALES, (0.3, 2.0, 6.4)], ids=["default", "small-and-coarse"])
def test_the_fast_bank_gives_the_reference_features_on_a_real_tile(scales):
    x = _real_tile()
    valid = torch.ones(1, *x.shape[2:], dtype=torch.bool)
    fast, reference = filter_features(x, valid, scales), _reference_features(x, valid, scales)
    assert fast.shape == reference.shape
    # Within 1e-5, relative to a feature's own size where it exceeds 1 (at sigma 0.3 the second
    # derivatives reach ~100: float32 rounds them to ~1e-5 whatever the order of the sums).
    size = reference.abs().amax((0, 2, 3)).clamp_min(1.0)
    worst = (fast - reference).abs().amax((0, 2, 3)) / size
    names = feature_names(3, scales)
    assert float(worst.max()) < 1e-5, f"{names[int(worst.argmax())]} differs by {float(worst.max()):.2e}"


def test_the_fast_bank_gives_the_reference_features_beside_nodata():
    x = _real_tile(200, 180)
    valid = torch.ones(1, *x.shape[2:], dtype=torch.bool)
    valid[0, 50:90, :40] = False  # a hole at the window's edge: the fill and the bank both see it
    x[0, :, ~valid[0]] = 0.0
    assert float((filter_features(x, valid) - _reference_features(x, valid, DEFAULT_SCALES)).abs().max()) < 1e-5


def test_a_constant_image_gives_constant_features_and_zero_derivatives():
    image = torch.full((2, 3, 70, 90), -1.25)
    features = filter_features(image, torch.ones(2, 70, 90, dtype=torch.bool))
    for name, values in zip(feature_names(3, DEFAULT_SCALES), features.transpose(0, 1)):
        expected = -1.25 if name.split(":")[1].split("@")[0] in ("pixel", "gaussian") else 0.0
        assert float((values - expected).abs().max()) < 1e-5, name


def test_a_forest_package_of_the_default_fit_loads_from_arrays_without_pickle_and_predicts(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 147)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=600) > 0).astype(np.int64)
    params = PixelForestParams()
    forest = fit_forest(x, y, 2, params.trees, 0, min_samples_leaf=params.min_samples_leaf)
    card = ModelCard(class_names=["a", "b"], class_colors=["#000000", "#ffffff"], bands=[1, 2, 3], mean=[0.0] * 3, std=[1.0] * 3, arch="pixel_forest",
                     encoder="filter_bank", in_channels=3, tile_size=64, method={"name": "pixel_forest", **params.model_dump()})
    save_package(tmp_path, card, forest)

    def no_pickle(*args, **kwargs):
        raise AssertionError("a forest package must load without unpickling anything")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    _, loaded = load_package(tmp_path)
    assert isinstance(loaded, PixelForest) and len(loaded.tree_sizes) == params.trees
    image = torch.randn(1, 3, 40, 40)
    logp = loaded(image)
    assert logp.shape == (1, 2, 40, 40) and torch.allclose(logp.exp().sum(1), torch.ones(1, 40, 40), atol=1e-4)
    assert torch.equal(logp, forest(image))  # the arrays decide how it predicts: the same as before saving


def test_the_forest_reads_a_windows_features_in_place_with_the_classes_of_a_contiguous_copy():
    x = _real_tile(160, 160)
    features = filter_features(x, torch.ones(1, 160, 160, dtype=torch.bool))[0].reshape(147, -1).numpy()
    rng = np.random.default_rng(3)
    pick = rng.choice(features.shape[1], 3000, replace=False)
    labels = (features[1, pick] > np.median(features[1, pick])).astype(np.int64) + (features[60, pick] > 0)
    forest = fit_forest(np.ascontiguousarray(features[:, pick].T), labels, 3, trees=8, seed=0)
    view = features.T  # what forward() hands over: no copy
    assert not view.flags.c_contiguous
    in_place, copied = forest.class_probabilities(view), forest.class_probabilities(np.ascontiguousarray(view))
    assert np.array_equal(in_place, copied)
    from_forward = forest(x).exp()[0].reshape(3, -1).T.numpy()
    assert np.abs(from_forward - copied).max() < 1e-5
