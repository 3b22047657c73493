"""Per-pixel filter features, the input of the pixel classifier (method `pixel_forest`).

The bank is the one ilastik's and dzetsaka's pixel classifiers made standard: for every band,
the pixel itself and, at each scale sigma, Gaussian smoothing, Laplacian of Gaussian, gradient
magnitude, difference of Gaussians, the two Hessian eigenvalues and the two structure tensor
eigenvalues (7 features per band and scale). Every filter is a sampled Gaussian derivative
applied separably (rows, then columns), so a window costs a few convolutions per band.

Large scales are computed on a coarser grid: at sigma >= 3.2 the image is average-pooled by the
largest power of two f with sigma / f >= 1.6, filtered at sigma / f and the features are
resampled bilinearly to the full grid. A feature that smooth loses nothing visible on the coarse
grid, and the largest filters cost f^3 less (ilastik's own speed-up for large scales is the same
idea in the frequency domain).

Nodata: before filtering, invalid pixels are filled with the normalized convolution of the
valid ones at the largest scale (sum of G * x * valid / sum of G * valid), so a nodata border
drags no artificial zero edge into the features of the valid pixels next to it. Window edges
are padded by replication; the predictor's overlapping windows blend what is left of them away.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ilastik's default scales beyond its 0.3 (for which the raw pixel stands in here).
DEFAULT_SCALES = (0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
PER_SCALE = ("gaussian", "log", "gradient", "dog", "hessian_max", "hessian_min", "structure_max", "structure_min")
FEATURES_PER_SCALE = len(PER_SCALE)
_DOG_RATIO = 0.66  # G(sigma) - G(0.66 sigma), the inner scale ilastik uses


def feature_count(bands: int, scales: tuple[float, ...]) -> int:
    return bands * (1 + FEATURES_PER_SCALE * len(scales))


def feature_names(bands: int, scales: tuple[float, ...]) -> list[str]:
    """The name of every feature channel, in the order `filter_features` returns them."""
    names = []
    for b in range(1, bands + 1):
        names.append(f"b{b}:pixel")
        names += [f"b{b}:{kind}@{s:g}" for s in scales for kind in PER_SCALE]
    return names


def context_radius(scales: tuple[float, ...]) -> int:
    """Pixels of context on each side that the largest filter reaches."""
    return _radius(max(scales))


def _radius(sigma: float) -> int:
    return max(1, math.ceil(3 * sigma))


def _kernels(sigma: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sampled Gaussian and its first and second derivative (1-D, summing to 1, 0 and 0)."""
    r = _radius(sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    d1 = -t / sigma**2 * g
    d1 = d1 - d1.mean()
    d2 = (t**2 / sigma**4 - 1 / sigma**2) * g
    d2 = d2 - d2.mean()
    return g, d1, d2


def _separable(x: torch.Tensor, along_rows: torch.Tensor, along_cols: torch.Tensor) -> torch.Tensor:
    """Filter every channel of (N, C, H, W) with `along_rows` vertically and `along_cols` horizontally."""
    c = x.shape[1]
    r = (along_rows.numel() - 1) // 2
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, along_rows.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, along_cols.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def _eigenvalues(xx: torch.Tensor, yy: torch.Tensor, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Larger and smaller eigenvalue of the symmetric 2 x 2 matrices [[xx, xy], [xy, yy]]."""
    mean = (xx + yy) / 2
    spread = torch.sqrt(((xx - yy) / 2) ** 2 + xy**2)
    return mean + spread, mean - spread


def fill_nodata(x: torch.Tensor, valid: torch.Tensor, sigma: float) -> torch.Tensor:
    """Invalid pixels take the Gaussian-weighted mean of the valid ones around them (0 far from any)."""
    if bool(valid.all()):
        return x
    m = valid[:, None].to(x.dtype)
    g, _, _ = _kernels(sigma, x.device)
    weighted = _separable(x * m, g, g)
    weight = _separable(m, g, g)
    estimate = torch.where(weight > 1e-6, weighted / weight.clamp_min(1e-6), torch.zeros_like(weighted))
    return torch.where(m > 0, x, estimate)


_COARSE_SIGMA = 1.6  # the smallest sigma a coarse grid filters at


def coarse_factor(sigma: float) -> int:
    """How much coarser a grid the scale `sigma` is computed on (1: the full grid)."""
    f = 1
    while sigma / (2 * f) >= _COARSE_SIGMA:
        f *= 2
    return f


@torch.no_grad()
def filter_features(x: torch.Tensor, valid: torch.Tensor, scales: tuple[float, ...] = DEFAULT_SCALES) -> torch.Tensor:
    """(N, C, H, W) normalized images and (N, H, W) validity -> (N, feature_count(C, scales), H, W)."""
    x = fill_nodata(x.float(), valid, max(scales))
    n, c, h, w = x.shape
    per_scale = []
    for sigma in scales:
        f = coarse_factor(sigma)
        coarse = F.avg_pool2d(x, f, ceil_mode=True) if f > 1 else x
        features = _scale_features(coarse, sigma / f)
        if f > 1:  # back to the full grid: coarse cell i covers pixels f*i .. f*i + f - 1 (the last one cropped)
            hc, wc = features.shape[-2:]
            fine = F.interpolate(features.flatten(1, 2), size=(hc * f, wc * f), mode="bilinear", align_corners=False)
            features = fine[..., :h, :w].reshape(n, c, FEATURES_PER_SCALE, h, w)
        per_scale.append(features)
    # (N, C, 1 + 8 * scales, H, W), flattened band-major: the order feature_names lists them in
    features = torch.cat([x[:, :, None]] + per_scale, dim=2)
    return features.reshape(n, feature_count(c, scales), h, w)


def _scale_features(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 8, H, W): the features of one scale, in PER_SCALE's order."""
    g, d1, d2 = _kernels(sigma, x.device)
    smooth = _separable(x, g, g)
    gx, gy = _separable(x, g, d1), _separable(x, d1, g)
    gxx, gyy, gxy = _separable(x, g, d2), _separable(x, d2, g), _separable(x, d1, d1)
    g_inner = _kernels(_DOG_RATIO * sigma, x.device)[0]
    inner = _separable(x, g_inner, g_inner)
    h_max, h_min = _eigenvalues(gxx, gyy, gxy)
    # Structure tensor: gradients at half the scale, their products smoothed at the scale.
    gi, di, _ = _kernels(max(0.5, sigma / 2), x.device)
    ix, iy = _separable(x, gi, di), _separable(x, di, gi)
    s_max, s_min = _eigenvalues(_separable(ix * ix, g, g), _separable(iy * iy, g, g), _separable(ix * iy, g, g))
    return torch.stack([smooth, gxx + gyy, torch.sqrt(gx**2 + gy**2), smooth - inner, h_max, h_min, s_max, s_min], dim=2)
