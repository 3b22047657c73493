"""Gated CRF loss: the pairwise definition, edge-aware affinities, gating of nodata, and the crf method."""

from __future__ import annotations

import math

import torch

from method_helpers import make_batch, make_method, one_thread, step_at  # noqa: F401 (autouse fixture)
from semiseg.train.methods.pairwise import gated_crf_loss


def brute_force_crf(probs, image, valid, radius, sigma_xy, sigma_image):
    """The definition pixel pair by pixel pair (downsample 1): sum over ordered pairs / #valid."""
    b, _, h, w = probs.shape
    total = 0.0
    for n in range(b):
        for y in range(h):
            for x in range(w):
                if not valid[n, y, x]:
                    continue
                for dy in range(-radius, radius + 1):
                    for dx in range(-radius, radius + 1):
                        yy, xx = y + dy, x + dx
                        if (dy, dx) == (0, 0) or not (0 <= yy < h and 0 <= xx < w) or not valid[n, yy, xx]:
                            continue
                        d_image = float((image[n, :, y, x] - image[n, :, yy, xx]).pow(2).sum())
                        k = math.exp(-(dy * dy + dx * dx) / (2 * sigma_xy**2) - d_image / (2 * sigma_image**2))
                        total += k * (1 - float((probs[n, :, y, x] * probs[n, :, yy, xx]).sum()))
    return total / float(valid.sum())


def test_gated_crf_loss_equals_its_pairwise_definition():
    g = torch.Generator().manual_seed(0)
    probs = torch.randn(2, 3, 9, 11, generator=g).softmax(1)
    image = torch.randn(2, 2, 9, 11, generator=g)
    valid = torch.rand(2, 9, 11, generator=g) > 0.2
    got = gated_crf_loss(probs, image, valid, radius=2, sigma_xy=1.5, sigma_image=0.7, downsample=1)
    assert math.isclose(float(got), brute_force_crf(probs, image, valid, 2, 1.5, 0.7), rel_tol=1e-5)


def two_regions(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """An image with a sharp vertical edge in the middle, and all pixels valid."""
    image = torch.zeros(1, 1, size, size)
    image[..., size // 2 :] = 3.0
    return image, torch.ones(1, size, size, dtype=torch.bool)


def one_hot(classes: torch.Tensor, n: int = 2) -> torch.Tensor:
    return torch.nn.functional.one_hot(classes, n).permute(0, 3, 1, 2).float()


def test_a_partition_along_the_image_edge_costs_almost_nothing_and_one_across_it_costs_much():
    image, valid = two_regions()
    along = torch.zeros(1, 32, 32, dtype=torch.long)
    along[..., 16:] = 1
    across = torch.zeros(1, 32, 32, dtype=torch.long)
    across[:, 16:] = 1
    uncertain = torch.full((1, 2, 32, 32), 0.5)
    cost = {name: float(gated_crf_loss(p, image, valid, downsample=1)) for name, p in [("along", one_hot(along)), ("across", one_hot(across)), ("uncertain", uncertain)]}
    assert cost["along"] < 1e-4 < cost["across"]
    assert cost["uncertain"] > cost["across"]  # every pair half-disagrees: the loss also asks for confident maps


def test_nodata_pixels_neither_count_nor_pull_their_neighbours():
    image, valid = two_regions()
    valid[:, :, :8] = False
    probs = torch.rand(1, 2, 32, 32, generator=torch.Generator().manual_seed(1)).softmax(1).requires_grad_(True)
    base = gated_crf_loss(probs, image, valid, downsample=1)
    (grad,) = torch.autograd.grad(base, probs)
    assert grad[..., :8].abs().max() == 0 and grad[..., 8:].abs().max() > 0
    changed_image = image.clone()
    changed_image[..., :8] = 100.0  # whatever a nodata pixel holds
    changed_probs = probs.detach().clone()
    changed_probs[..., :8] = torch.tensor([1.0, 0.0])[:, None, None]
    assert torch.isclose(gated_crf_loss(changed_probs, changed_image, valid, downsample=1), base.detach())


def test_downsampling_drops_coarse_pixels_that_cover_any_nodata():
    image, valid = two_regions()
    valid[:, 0, 0] = False  # one fine pixel: the whole 2x2 coarse pixel goes
    probs = torch.rand(1, 2, 32, 32, generator=torch.Generator().manual_seed(2)).softmax(1).requires_grad_(True)
    (grad,) = torch.autograd.grad(gated_crf_loss(probs, image, valid, downsample=2), probs)
    assert grad[0, :, :2, :2].abs().max() == 0 and grad[0, :, 2:4, :2].abs().max() > 0


def test_crf_method_is_cross_entropy_alone_in_warmup_and_spreads_labels_after_it():
    method = make_method("crf", {"warmup": 0.2, "rampup": 0.0})
    batch = make_batch()
    loss, parts = method.training_loss(batch, step_at(10))
    assert parts["w"] == 0.0 and math.isclose(float(loss.detach()), parts["sup"], rel_tol=1e-6)
    loss, parts = method.training_loss(batch, step_at(50))
    assert parts["w"] == method.params.weight and parts["crf"] > 0
    assert math.isclose(float(loss.detach()), parts["sup"] + parts["w"] * parts["crf"], rel_tol=1e-5)


def test_crf_method_regularises_the_unlabeled_windows_too_unless_told_not_to():
    batch = make_batch()
    for unlabeled, expect_effect in [(True, True), (False, False)]:
        method = make_method("crf", {"warmup": 0.0, "rampup": 0.0, "unlabeled": unlabeled})
        base, _ = method.training_loss(batch, step_at(50))
        other = {**batch, "unlabeled": {**batch["unlabeled"], "image": batch["unlabeled"]["image"] * 3 + 1}}
        changed, _ = method.training_loss(other, step_at(50))
        assert (not torch.isclose(base, changed)) == expect_effect
