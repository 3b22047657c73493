"""Schedules of the unsupervised loss weight, as fractions of the run."""

from __future__ import annotations

import math


def sigmoid_rampup(t: float) -> float:
    """exp(-5 (1 - t)^2) for t clipped to [0, 1] (CCT, Laine & Aila): exp(-5) at 0, exactly 1 at 1."""
    t = min(1.0, max(0.0, t))
    return math.exp(-5.0 * (1.0 - t) ** 2)


def unsupervised_weight(progress: float, weight: float, warmup: float, rampup: float) -> float:
    """0 during a supervised-only warm-up, then a sigmoid ramp to `weight` over `rampup` of the run.

    A consistency target from a network that has learnt nothing yet teaches nothing and can
    drown the few labels (docs/methods.md, shared modules), hence the warm-up before the ramp.
    """
    if progress < warmup:
        return 0.0
    if rampup <= 0:
        return weight
    return weight * sigmoid_rampup((progress - warmup) / rampup)
