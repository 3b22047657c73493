"""Gated CRF loss: a pairwise regulariser that spreads sparse labels to similar neighbours.

Scribbles sit inside regions and never touch a boundary; partial cross-entropy says nothing
about the other 99 % of the pixels. The gated CRF loss (Obukhov et al. 2019, after Tang et al.'s
regularised losses, ECCV 2018) asks neighbouring pixels that look alike to take the same class:

    L = (1 / #valid) * sum over valid pairs (i, j), j in the (2r+1)^2 window of i, of k(i, j) * (1 - <p_i, p_j>)
    k(i, j) = exp(-|xy_i - xy_j|^2 / (2 sigma_xy^2) - |x_i - x_j|^2 / (2 sigma_image^2))

with `p` the softmax probabilities and `x` the (standardised) image. "Gated": a pixel outside
the valid mask neither counts nor pulls its neighbours. It is computed on a grid `downsample`
times coarser (pixels averaged), which keeps a wide neighbourhood affordable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _pair_slices(dy: int, dx: int, height: int, width: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Row/column slices of the pixels i and of their partners j = i + (dy, dx), for dy >= 0."""
    rows_i, rows_j = slice(0, height - dy), slice(dy, height)
    if dx >= 0:
        return (rows_i, slice(0, width - dx)), (rows_j, slice(dx, width))
    return (rows_i, slice(-dx, width)), (rows_j, slice(0, width + dx))


def _half_window(radius: int) -> list[tuple[int, int]]:
    """Offsets of one half of the (2r+1)^2 window: each unordered pair of pixels appears once."""
    return [(dy, dx) for dy in range(radius + 1) for dx in range(-radius, radius + 1) if dy > 0 or dx > 0]


def gated_crf_loss(
    probs: torch.Tensor,
    image: torch.Tensor,
    valid: torch.Tensor,
    radius: int = 5,
    sigma_xy: float = 5.0,
    sigma_image: float = 0.5,
    downsample: int = 2,
) -> torch.Tensor:
    """Pairwise disagreement of `probs` (B,C,H,W) between look-alike neighbours of `image` (B,C',H,W), per valid pixel.

    `valid` (B,H,W) gates pixels in and out. Distances are in pixels of the downsampled grid and
    in standardised image units. Gradient flows through both ends of every pair, never into the
    affinities (they depend on the image only).
    """
    gate = valid[:, None].float()
    if downsample > 1:
        probs = F.avg_pool2d(probs.float(), downsample, ceil_mode=True)
        image = F.avg_pool2d(image.float(), downsample, ceil_mode=True)
        # a coarse pixel counts only when every fine pixel under it is valid
        gate = (F.avg_pool2d(gate, downsample, ceil_mode=True) >= 1.0 - 1e-6).float()
    probs, image, gate = probs.float(), image.float().detach() * gate, gate[:, 0]  # nodata must not shape the affinities
    height, width = probs.shape[2:]
    total = probs.new_zeros(())
    for dy, dx in _half_window(radius):
        if dy >= height or abs(dx) >= width:
            continue
        (ri, ci), (rj, cj) = _pair_slices(dy, dx, height, width)
        with torch.no_grad():
            distance = (image[:, :, ri, ci] - image[:, :, rj, cj]).pow(2).sum(1)
            affinity = math.exp(-(dy * dy + dx * dx) / (2 * sigma_xy**2)) * torch.exp(-distance / (2 * sigma_image**2))
            affinity = affinity * gate[:, ri, ci] * gate[:, rj, cj]
        agreement = (probs[:, :, ri, ci] * probs[:, :, rj, cj]).sum(1)
        total = total + (affinity * (1.0 - agreement)).sum()
    return 2.0 * total / gate.sum().clamp_min(1.0)  # each unordered pair counts for both of its pixels
