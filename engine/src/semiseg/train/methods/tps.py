"""Thin-plate-spline warps for geometric consistency (PhTPS), with the mask of pixels that stay inside."""

from __future__ import annotations

import torch
import torch.nn.functional as F

VALID_AT = 1.0 - 1e-6  # a warped pixel counts when its bilinear weights all fall on valid input


def control_grid(rows: int = 2, cols: int = 2, device=None) -> torch.Tensor:
    """Control points on a rows x cols grid spanning the image, normalised (x, y) in [-1, 1]."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, rows, device=device), torch.linspace(-1, 1, cols, device=device), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)


def _radial(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """TPS kernel U(r) = r^2 log r^2 between point sets a (N,2) and b (M,2)."""
    d2 = (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)
    return torch.xlogy(d2, d2)


def pixel_centres(height: int, width: int, device=None) -> torch.Tensor:
    """Normalised (x, y) of pixel centres as grid_sample sees them with align_corners=False, (H*W, 2)."""
    ys = (2 * torch.arange(height, device=device, dtype=torch.float64) + 1) / height - 1
    xs = (2 * torch.arange(width, device=device, dtype=torch.float64) + 1) / width - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def tps_grid(control: torch.Tensor, offsets: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Sampling grid (B,H,W,2) of the TPS that maps each control point c to c + offset.

    Output pixel p samples the input at f(p); f is the minimum-bending interpolant with
    f(c_i) = c_i + o_i, so zero offsets give f(p) = p, the identity. Solved in float64.
    """
    c = control.to(torch.float64)
    n = c.shape[0]
    ones = torch.ones(n, 1, dtype=torch.float64, device=c.device)
    poly = torch.cat([ones, c], 1)
    system = torch.zeros(n + 3, n + 3, dtype=torch.float64, device=c.device)
    system[:n, :n] = _radial(c, c)
    system[:n, n:] = poly
    system[n:, :n] = poly.T
    rhs = torch.zeros(offsets.shape[0], n + 3, 2, dtype=torch.float64, device=c.device)
    rhs[:, :n] = c + offsets.to(torch.float64)
    coef = torch.linalg.solve(system, rhs)
    p = pixel_centres(height, width, c.device)
    basis = torch.cat([_radial(p, c), torch.ones(p.shape[0], 1, dtype=torch.float64, device=c.device), p], 1)
    return (basis @ coef).reshape(-1, height, width, 2).float()


def random_tps_grid(batch: int, height: int, width: int, generator: torch.Generator, sigma: float = 0.1) -> torch.Tensor:
    """A PhTPS warp per image: 2x2 control grid, offsets ~ N(0, sigma) in normalised coordinates."""
    control = control_grid(2, 2, generator.device)
    offsets = torch.randn(batch, control.shape[0], 2, generator=generator, device=generator.device) * sigma
    return tps_grid(control, offsets, height, width)


def warp(tensor: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear warp with zero padding (float tensors: images, probabilities, masks)."""
    return F.grid_sample(tensor.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def warp_validity(valid: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Pixels (B,H,W) whose warped value comes only from valid in-image pixels."""
    return warp(valid[:, None].float(), grid)[:, 0] >= VALID_AT


def warp_labels(labels: torch.Tensor, grid: torch.Tensor, num_classes: int, ignore: int = 255) -> torch.Tensor:
    """Class ids (B,H,W) warped like `warp`; a pixel keeps a class only where all its bilinear weights agree on it."""
    one_hot = torch.nn.functional.one_hot(torch.where(labels == ignore, num_classes, labels), num_classes + 1)
    warped = warp(one_hot.permute(0, 3, 1, 2), grid)
    top, cls = warped.max(1)
    return torch.where((top >= VALID_AT) & (cls < num_classes), cls, torch.full_like(cls, ignore))
