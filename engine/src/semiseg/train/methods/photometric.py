"""Photometric jitter of PhTPS, on per-band standardised images.

The network sees standardised bands, not 0..1 colours, so each image is mapped affinely to
[0, 1] (over its valid pixels), jittered there, and mapped back with the same affine map.
Three bands: the HSV jitter of the paper. Any other band count (1-band seismic, multispectral):
per-band brightness / contrast / gamma jitter of similar strength.

`strength` "strong" is the paper's; "mild" halves every range and keeps the band order (no
channel permutation), for imagery whose classes are told apart by colour (water, vegetation).
"""

from __future__ import annotations

import math

import torch


def _uniform(n: int, low: float, high: float, gen: torch.Generator, *shape: int) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, *shape, generator=gen, device=gen.device)


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) in [0,1] -> HSV in [0,1] (hue as a fraction of a turn)."""
    r, g, b = rgb.unbind(1)
    v, arg = rgb.max(1)
    c = v - rgb.min(1).values
    safe_c = torch.where(c > 0, c, torch.ones_like(c))
    h = torch.where(arg == 0, ((g - b) / safe_c) % 6, torch.where(arg == 1, (b - r) / safe_c + 2, (r - g) / safe_c + 4))
    h = torch.where(c > 0, h / 6, torch.zeros_like(h))
    s = torch.where(v > 0, c / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    return torch.stack([h, s, v], 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    h, s, v = hsv.unbind(1)
    k = lambda n: (n + h * 6) % 6  # noqa: E731
    f = lambda n: v - v * s * (torch.minimum(k(n), 4 - k(n)).clamp(0, 1))  # noqa: E731
    return torch.stack([f(5), f(3), f(1)], 1)


def _to_unit(x: torch.Tensor, valid: torch.Tensor, per_band: bool):
    """Affine map of each image (or each band) to [0, 1] over its valid pixels."""
    big = torch.finfo(x.dtype).max
    m = valid[:, None].expand_as(x)
    dims = (2, 3) if per_band else (1, 2, 3)
    lo = torch.where(m, x, torch.full_like(x, big)).amin(dims, keepdim=True)
    hi = torch.where(m, x, torch.full_like(x, -big)).amax(dims, keepdim=True)
    lo = torch.where(lo > hi, torch.zeros_like(lo), lo)  # an image without valid pixels
    scale = (hi - lo).clamp_min(1e-6)
    return ((x - lo) / scale).clamp(0, 1), lo, scale


def _scale_range(low: float, high: float, k: float) -> tuple[float, float]:
    """Multiplicative range [low, high] around 1 shrunk by k in log space."""
    if k == 1.0:
        return low, high
    return math.exp(k * math.log(low)), math.exp(k * math.log(high))


def hsv_jitter(x: torch.Tensor, valid: torch.Tensor, gen: torch.Generator, strength: str = "strong") -> torch.Tensor:
    """Per image, in order: V += U(-.25,.25); S *= U(.25,2); H += U(-.1,.1); V *= U(.25,2); channel permutation.

    "mild": every range halved (multiplicative ones in log space), no channel permutation.
    """
    b = x.shape[0]
    k = 1.0 if strength == "strong" else 0.5
    u, lo, scale = _to_unit(x.float(), valid, per_band=False)
    h, s, v = rgb_to_hsv(u).unbind(1)
    shape = (1, 1)
    v = (v + _uniform(b, -0.25 * k, 0.25 * k, gen, *shape)).clamp(0, 1)
    s = (s * _uniform(b, *_scale_range(0.25, 2.0, k), gen, *shape)).clamp(0, 1)
    h = (h + _uniform(b, -0.1 * k, 0.1 * k, gen, *shape)) % 1.0
    v = (v * _uniform(b, *_scale_range(0.25, 2.0, k), gen, *shape)).clamp(0, 1)
    rgb = hsv_to_rgb(torch.stack([h, s, v], 1))
    if strength == "strong":
        order = torch.stack([torch.randperm(3, generator=gen, device=gen.device) for _ in range(b)])
        rgb = torch.gather(rgb, 1, order[:, :, None, None].expand_as(rgb))
    return (rgb * scale + lo).to(x.dtype)


def band_jitter(x: torch.Tensor, valid: torch.Tensor, gen: torch.Generator, strength: str = "strong") -> torch.Tensor:
    """Per image and band: contrast *U(.5,1.5) about the mean, brightness +U(-.25,.25), gamma exp(U(-.7,.7)).

    "mild": every range halved.
    """
    b, c = x.shape[:2]
    k = 1.0 if strength == "strong" else 0.5
    u, lo, scale = _to_unit(x.float(), valid, per_band=True)
    mean = u.mean((2, 3), keepdim=True)
    contrast = _uniform(b, 1 - 0.5 * k, 1 + 0.5 * k, gen, c, 1, 1)
    brightness = _uniform(b, -0.25 * k, 0.25 * k, gen, c, 1, 1)
    gamma = torch.exp(_uniform(b, -0.7 * k, 0.7 * k, gen, c, 1, 1))
    u = ((u - mean) * contrast + mean + brightness).clamp(0, 1).pow(gamma)
    return (u * scale + lo).to(x.dtype)


def photometric_jitter(x: torch.Tensor, valid: torch.Tensor, gen: torch.Generator, strength: str = "strong") -> torch.Tensor:
    """PhTPS's photometric half; nodata pixels stay 0 as the data pipeline delivers them."""
    if strength == "none":
        return x * valid[:, None]
    out = hsv_jitter(x, valid, gen, strength) if x.shape[1] == 3 else band_jitter(x, valid, gen, strength)
    return out * valid[:, None]
