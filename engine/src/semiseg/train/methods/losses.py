"""Losses shared by the semi-supervised methods: masked means, consistency distances, ABCE."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from semiseg.data.labels import IGNORE_INDEX

Distance = Literal["mse", "kl", "js"]


def partial_cross_entropy(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """CE over labelled pixels; 0 (with a graph) when a batch has none, so DDP ranks stay in step."""
    if not (label != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, label, ignore_index=IGNORE_INDEX)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` (B,H,W) over `mask`; 0 with a graph when the mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def kl_divergence(p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Per-pixel KL(p || q) = sum_c p (log p - log q), with 0 log 0 = 0."""
    return (torch.xlogy(p, p) - p * log_q).sum(1)


def consistency_distance(logits: torch.Tensor, target: torch.Tensor, kind: Distance) -> torch.Tensor:
    """Per-pixel distance (B,H,W) between a prediction (logits) and a target distribution.

    mse: mean over classes of squared difference of probabilities (so its masked mean is
    CCT's mean over B*C*H*W); kl: KL(target || prediction); js: Jensen-Shannon divergence.
    """
    if kind == "mse":
        return (logits.softmax(1) - target).pow(2).mean(1)
    log_q = logits.log_softmax(1)
    if kind == "kl":
        return kl_divergence(target, log_q)
    q = log_q.exp()
    m = 0.5 * (q + target)
    log_m = m.clamp_min(1e-12).log()
    return 0.5 * kl_divergence(target, log_m) + 0.5 * kl_divergence(q, log_m)


def confident(target: torch.Tensor, threshold: float | None) -> torch.Tensor:
    """Pixels whose target's top probability reaches `threshold` (all pixels when None)."""
    top = target.max(1).values
    return torch.ones_like(top, dtype=torch.bool) if threshold is None else top >= threshold


def abce_threshold(progress: float, num_classes: int, ramp: float = 0.4, high: float = 0.9) -> float:
    """ABCE threshold: 1/C -> `high` along 1 - exp(-5 t), t = progress / ramp clipped to [0, 1]."""
    t = min(1.0, progress / ramp)
    low = 1.0 / num_classes
    return low + (high - low) * (1.0 - math.exp(-5.0 * t))


def annealed_bootstrapped_ce(logits: torch.Tensor, label: torch.Tensor, threshold: float) -> torch.Tensor:
    """CE over labelled pixels whose true-class probability is still below `threshold` (CCT's ABCE).

    Confident pixels stop contributing, so a few easy labelled areas cannot dominate.
    """
    ce = F.cross_entropy(logits, label, ignore_index=IGNORE_INDEX, reduction="none")
    keep = (label != IGNORE_INDEX) & (torch.exp(-ce) < threshold)
    return masked_mean(ce, keep.detach())
