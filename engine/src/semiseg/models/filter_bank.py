"""Per-pixel filter features, the input of the pixel classifier (method `pixel_forest`).

The bank is the one ilastik's and dzetsaka's pixel classifiers made standard: for every band,
the pixel itself and, at each scale sigma, Gaussian smoothing, Laplacian of Gaussian, gradient
magnitude, difference of Gaussians, the two Hessian eigenvalues and the two structure tensor
eigenvalues (7 features per band and scale). Every filter is a sampled Gaussian derivative
applied separably (down the columns, then along the rows). The filters of a scale share their
passes: six 1-D kernels down the columns, then nine along the rows, and the structure tensor's
smoothing; each pass is a weighted sum of shifted copies, one tap pair at a time (`_pass`).

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
    # (N, C, 1 + 8 * scales, H, W), flattened band-major: the order feature_names lists them in.
    # Every feature is written into its slot (no stacking and concatenating of copies).
    out = torch.empty(n, c, 1 + FEATURES_PER_SCALE * len(scales), h, w, dtype=x.dtype, device=x.device)
    out[:, :, 0] = x
    bands = x.reshape(n * c, h, w)  # a filter treats every band of every image alike
    for i, sigma in enumerate(scales):
        f = coarse_factor(sigma)
        slot = out[:, :, 1 + FEATURES_PER_SCALE * i : 1 + FEATURES_PER_SCALE * (i + 1)].reshape(n * c, FEATURES_PER_SCALE, h, w)
        if f == 1:
            _scale_features(bands, sigma, slot)
            continue
        coarse = F.avg_pool2d(bands[:, None], f, ceil_mode=True)[:, 0]
        hc, wc = coarse.shape[-2:]
        features = torch.empty(n * c, FEATURES_PER_SCALE, hc, wc, dtype=x.dtype, device=x.device)
        _scale_features(coarse, sigma / f, features)
        # back to the full grid: coarse cell i covers pixels f*i .. f*i + f - 1 (the last one cropped)
        fine = F.interpolate(features, size=(hc * f, wc * f), mode="bilinear", align_corners=False)
        slot.copy_(fine[..., :h, :w])
    return out.reshape(n, feature_count(c, scales), h, w)


def _padded(kernel: torch.Tensor, radius: int) -> torch.Tensor:
    """A 1-D kernel widened with zeros to 2 * radius + 1 taps (the same filter)."""
    extra = radius - (kernel.numel() - 1) // 2
    return F.pad(kernel, (extra, extra))


def _pass(x: torch.Tensor, kernels: list[torch.Tensor], dim: int) -> list[torch.Tensor]:
    """Correlate (B, H, W) with each of `kernels` (equally long, 2r + 1 taps) along `dim` (1: down
    the columns, 2: along the rows), without padding: each result is 2r shorter along `dim`.

    Shifted copies of the input summed with the kernels' weights (no im2col, no grouped
    convolution, whose CPU paths are slow for one-channel 1-D kernels). The kernels that follow
    the same earlier pass share each pair of taps at +-t: the sum and the difference of the two
    shifted inputs serve the symmetric and the antisymmetric part of every kernel.
    """
    taps = kernels[0].numel()
    r = (taps - 1) // 2
    length = x.shape[dim] - 2 * r
    shifted = lambda t: x.narrow(dim, t, length)  # noqa: E731
    weights = [k.tolist() for k in kernels]
    outs = [shifted(r) * w[r] for w in weights]
    total, diff = torch.empty_like(outs[0]), torch.empty_like(outs[0])  # reused: no allocation per tap
    for t in range(r):
        even = [(w[t] + w[taps - 1 - t]) / 2 for w in weights]
        odd = [(w[t] - w[taps - 1 - t]) / 2 for w in weights]
        scale = [max(abs(v) for v in w) for w in weights]
        needs_even = [abs(e) > 1e-7 * s for e, s in zip(even, scale)]
        needs_odd = [abs(o) > 1e-7 * s for o, s in zip(odd, scale)]
        if not any(needs_even) and not any(needs_odd):
            continue  # a tap the zero widening added
        a, b = shifted(t), shifted(taps - 1 - t)
        if len(outs) == 1:  # nothing to share: the two taps straight into the sum
            outs[0].add_(a, alpha=weights[0][t]).add_(b, alpha=weights[0][taps - 1 - t])
            continue
        if any(needs_even):
            torch.add(a, b, out=total)
            for out, e, need in zip(outs, even, needs_even):
                if need:
                    out.add_(total, alpha=e)
        if any(needs_odd):
            torch.sub(a, b, out=diff)
            for out, o, need in zip(outs, odd, needs_odd):
                if need:
                    out.add_(diff, alpha=o)
    return outs


def _scale_features(x: torch.Tensor, sigma: float, out: torch.Tensor) -> None:
    """(B, H, W) -> `out` (B, 8, H, W): the features of one scale, in PER_SCALE's order.

    The separable filters share their passes: one pass down the columns with the six kernels
    the filters start with (Gaussian, first and second derivative, the inner Gaussian of the
    difference of Gaussians and the structure tensor's smaller Gaussian and derivative), then
    along the rows each of those with the kernels that follow it. Every kernel is widened with
    zeros to the longest one, so one replicate padding serves all.
    """
    g, d1, d2 = _kernels(sigma, x.device)
    g_inner = _kernels(_DOG_RATIO * sigma, x.device)[0]
    # Structure tensor: gradients at half the scale, their products smoothed at the scale.
    gi, di, _ = _kernels(max(0.5, sigma / 2), x.device)
    r = max(_radius(sigma), _radius(max(0.5, sigma / 2)))
    g, d1, d2, g_inner, gi, di = (_padded(k, r) for k in (g, d1, d2, g_inner, gi, di))
    padded = F.pad(x[:, None], (r, r, r, r), mode="replicate")[:, 0]
    down = _pass(padded, [g, d1, d2, g_inner, gi, di], 1)  # each (B, H, W + 2r)
    smooth, gx, gxx = _pass(down[0], [g, d1, d2], 2)
    gy, gxy = _pass(down[1], [g, d1], 2)
    (gyy,) = _pass(down[2], [g], 2)
    (inner,) = _pass(down[3], [g_inner], 2)
    (ix,) = _pass(down[4], [di], 2)
    (iy,) = _pass(down[5], [gi], 2)
    torch.add(gxx, gyy, out=out[:, 1])
    torch.sqrt(gx * gx + gy * gy, out=out[:, 2])
    out[:, 0] = smooth
    torch.sub(smooth, inner, out=out[:, 3])
    _eigenvalues_into(gxx, gyy, gxy, out[:, 4], out[:, 5])
    # The products smoothed at the scale: the three in the batch of one pass each way.
    rg = _radius(sigma)
    gs = _padded(g, rg) if g.numel() == 2 * rg + 1 else g[r - rg : r + rg + 1]
    products = torch.cat([ix * ix, iy * iy, ix * iy])
    products = F.pad(products[:, None], (rg, rg, rg, rg), mode="replicate")[:, 0]
    (smoothed,) = _pass(_pass(products, [gs], 1)[0], [gs], 2)
    sxx, syy, sxy = smoothed.chunk(3)
    _eigenvalues_into(sxx, syy, sxy, out[:, 6], out[:, 7])


def _eigenvalues_into(xx: torch.Tensor, yy: torch.Tensor, xy: torch.Tensor, larger: torch.Tensor, smaller: torch.Tensor) -> None:
    """Larger and smaller eigenvalue of the symmetric 2 x 2 matrices [[xx, xy], [xy, yy]], written into `larger` and `smaller`."""
    mean = (xx + yy) / 2
    spread = torch.sqrt(((xx - yy) / 2) ** 2 + xy**2)
    torch.add(mean, spread, out=larger)
    torch.sub(mean, spread, out=smaller)
