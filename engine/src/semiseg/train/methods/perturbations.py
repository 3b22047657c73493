"""CCT's feature perturbations: each takes the encoder features of unlabeled images and
returns perturbed copies for one auxiliary decoder; the main decoder never sees them.

smp encoders return a list of feature levels; level 0 is the input image itself, so every
perturbation acts on levels 1.. (the decoders' skip connections would otherwise carry the
unperturbed signal around it). Masks computed at the image resolution are resized per level.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from semiseg.train.methods.losses import kl_divergence

Features = list[torch.Tensor]


@dataclass
class Cue:
    """What perturbations may look at: the main decoder's (detached) prediction and the randomness."""

    probs: torch.Tensor  # (B,C,H,W) softmax of the main decoder on the clean features
    background: torch.Tensor  # class ids that are "context" (may be empty)
    generator: torch.Generator

    def uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator, device=self.generator.device)


def _each_level(features: Features, fn) -> Features:
    return [features[0]] + [fn(f) for f in features[1:]]


def _resized(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,H,W) mask -> (B,1,h,w) of the feature level, nearest neighbour."""
    return F.interpolate(mask[:, None].float(), size=like.shape[-2:], mode="nearest").to(like.dtype)


class FeatureNoise:
    """z + z * N, N ~ U(-r, r), one noise tensor shared over the batch."""

    def __init__(self, r: float = 0.3):
        self.r = r

    def __call__(self, features: Features, cue: Cue, branch: nn.Module) -> Features:
        return _each_level(features, lambda f: f + f * (cue.uniform(*f.shape[1:]) * 2 - 1) * self.r)


class FeatureDrop:
    """Drop the most activated regions: where the channel mean >= gamma * its max, gamma ~ U(0.7, 0.9)."""

    def __call__(self, features: Features, cue: Cue, branch: nn.Module) -> Features:
        def drop(f: torch.Tensor) -> torch.Tensor:
            attention = f.mean(1, keepdim=True)
            gamma = 0.7 + 0.2 * cue.uniform(f.shape[0], 1, 1, 1)
            top = attention.flatten(1).max(1).values.view(-1, 1, 1, 1)
            return f * (attention < top * gamma).to(f.dtype)

        return _each_level(features, drop)


class ChannelDropout:
    """Spatial dropout (whole channels), p = 0.5, rescaled by 1 / (1 - p)."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, features: Features, cue: Cue, branch: nn.Module) -> Features:
        def drop(f: torch.Tensor) -> torch.Tensor:
            keep = (cue.uniform(f.shape[0], f.shape[1], 1, 1) >= self.p).to(f.dtype)
            return f * keep / (1 - self.p)

        return _each_level(features, drop)


def _objects(cue: Cue) -> torch.Tensor:
    """(B,H,W) bool: pixels the main decoder assigns to a non-background class."""
    pred = cue.probs.argmax(1)
    return ~torch.isin(pred, cue.background)


class ObjectMask:
    """Keep only the features of predicted objects (non-background classes)."""

    def __call__(self, features: Features, cue: Cue, branch: nn.Module) -> Features:
        keep = _objects(cue)
        return _each_level(features, lambda f: f * _resized(keep, f))


class ContextMask:
    """Keep only the features of predicted context (background classes)."""

    def __call__(self, features: Features, cue: Cue, branch: nn.Module) -> Features:
        keep = ~_objects(cue)
        return _each_level(features, lambda f: f * _resized(keep, f))


class GuidedCutout:
    """Erase a random box of `size` x `size` of each predicted object's bounding box.

    An object here is all pixels of one predicted non-background class in the image (land-cover
    classes rarely form countable instances; connected components would cost a CPU round trip).
    """

    def __init__(self, size: float = 0.4):
        self.size = size

    def __call__(self, features: Features, cue: Cue, branch: nn.Module) -> Features:
        pred = cue.probs.argmax(1)
        objects = _objects(cue)
        b, h, w = pred.shape
        keep = torch.ones(b, h, w, dtype=torch.bool, device=pred.device)
        rows = torch.arange(h, device=pred.device)
        cols = torch.arange(w, device=pred.device)
        for k in range(cue.probs.shape[1]):
            present = (pred == k) & objects
            draw = cue.uniform(b, 2)  # drawn for every class, so the stream does not depend on predictions
            for i in torch.nonzero(present.flatten(1).any(1)).flatten().tolist():
                ys = torch.nonzero(present[i].any(1)).flatten()
                xs = torch.nonzero(present[i].any(0)).flatten()
                y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
                bh, bw = max(1, round((y1 - y0) * self.size)), max(1, round((x1 - x0) * self.size))
                top = y0 + int(draw[i, 0] * (y1 - y0 - bh + 1))
                left = x0 + int(draw[i, 1] * (x1 - x0 - bw + 1))
                box = ((rows >= top) & (rows < top + bh))[:, None] & ((cols >= left) & (cols < left + bw))[None, :]
                keep[i] &= ~box
        return _each_level(features, lambda f: f * _resized(keep, f))


class VirtualAdversarial:
    """I-VAT: the feature perturbation of norm `eps` that most changes this decoder's prediction.

    One power iteration: d random, unit norm per sample; the gradient of
    KL(main prediction || decoder(z + xi d)) w.r.t. d gives the adversarial direction.
    The gradient is taken with autograd.grad, so no parameter accumulates it.
    """

    def __init__(self, xi: float = 1e-6, eps: float = 2.0):
        self.xi, self.eps = xi, eps

    @staticmethod
    def _unit(levels: Features) -> Features:
        norm = torch.sqrt(sum(d.flatten(1).pow(2).sum(1) for d in levels)).clamp_min(1e-12)
        return [d / norm.view(-1, 1, 1, 1) for d in levels]

    def __call__(self, features: Features, cue: Cue, branch: nn.Module) -> Features:
        clean = [f.detach() for f in features[1:]]
        d = self._unit([torch.randn(f.shape, generator=cue.generator, device=f.device, dtype=f.dtype) for f in clean])
        d = [t.requires_grad_() for t in d]
        with torch.enable_grad():
            logits = branch([features[0].detach()] + [f + self.xi * t for f, t in zip(clean, d)])
            distance = kl_divergence(cue.probs, logits.float().log_softmax(1)).mean()
            grads = torch.autograd.grad(distance, d)
        r_adv = [self.eps * g for g in self._unit([g.detach() for g in grads])]
        return [features[0]] + [f + r for f, r in zip(features[1:], r_adv)]


PERTURBATIONS = {
    "vat": VirtualAdversarial,
    "dropout": ChannelDropout,
    "cutout": GuidedCutout,
    "context_mask": ContextMask,
    "object_mask": ObjectMask,
    "feature_drop": FeatureDrop,
    "feature_noise": FeatureNoise,
}
