"""Shared pieces of the semi-supervised methods: ramps, TPS, photometric jitter, losses, jigsaw."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from method_helpers import batch_for, make_batch, make_method, one_thread, step_at  # noqa: F401 (autouse fixture)
from semiseg.train.methods import check_method
from semiseg.train.methods.losses import abce_threshold, annealed_bootstrapped_ce, consistency_distance
from semiseg.train.methods.photometric import band_jitter, hsv_to_rgb, photometric_jitter, rgb_to_hsv
from semiseg.train.methods.ramps import sigmoid_rampup, unsupervised_weight
from semiseg.train.methods.selfsup import (
    jigsaw_shuffle,
    max_hamming_permutations,
    mumford_shah_loss,
    relaxed_kmeans_loss,
)
from semiseg.train.methods.tps import control_grid, random_tps_grid, tps_grid, warp, warp_validity


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- ramps -------------------------------------------------------------------------------

def test_sigmoid_rampup_hits_its_endpoints():
    assert sigmoid_rampup(0.0) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(1.0) == 1.0
    assert sigmoid_rampup(2.0) == 1.0 and sigmoid_rampup(-1.0) == pytest.approx(math.exp(-5))
    values = [sigmoid_rampup(t / 10) for t in range(11)]
    assert values == sorted(values)


def test_unsupervised_weight_is_zero_in_warmup_then_ramps_to_the_full_weight():
    w = lambda p: unsupervised_weight(p, 30.0, warmup=0.1, rampup=0.3)  # noqa: E731
    assert w(0.0) == 0.0 and w(0.099) == 0.0
    assert w(0.1) == pytest.approx(30 * math.exp(-5))
    assert w(0.4) == pytest.approx(30.0) and w(1.0) == 30.0
    assert unsupervised_weight(0.0, 2.0, warmup=0.0, rampup=0.0) == 2.0


# --- TPS ---------------------------------------------------------------------------------

def test_tps_with_zero_offsets_is_the_identity():
    x = torch.randn(2, 3, 20, 28, generator=gen())
    grid = tps_grid(control_grid(2, 2), torch.zeros(2, 4, 2), 20, 28)
    assert torch.allclose(warp(x, grid), x, atol=1e-5)
    assert warp_validity(torch.ones(2, 20, 28), grid).all()


def test_tps_passes_through_control_points_and_validity_drops_pixels_from_outside():
    # Every control point moved by +0.5 in x: a pure translation, output pixel p samples p + 0.5.
    h, w = 16, 32
    offsets = torch.zeros(1, 4, 2)
    offsets[..., 0] = 0.5
    grid = tps_grid(control_grid(2, 2), offsets, h, w)
    xs = (2 * torch.arange(w) + 1) / w - 1
    assert torch.allclose(grid[0, 0, :, 0], xs + 0.5, atol=1e-5)
    valid = warp_validity(torch.ones(1, h, w), grid)[0]
    inside = (xs + 0.5) <= xs[-1] + 1e-6  # sample point at or before the last pixel centre
    assert torch.equal(valid, inside[None].expand(h, w))
    assert 0 < valid.sum() < h * w
    # Valid pixels hold the input shifted by a quarter of the width (0.5 of the [-1, 1] span).
    x = torch.randn(1, 1, h, w, generator=gen())
    out = warp(x, grid)[0, 0]
    assert torch.allclose(out[:, : w - 8], x[0, 0, :, 8:], atol=1e-5)


def test_validity_also_drops_pixels_that_sample_nodata():
    valid = torch.ones(1, 16, 16, dtype=torch.bool)
    valid[0, :, :4] = False
    grid = tps_grid(control_grid(2, 2), torch.zeros(1, 4, 2), 16, 16)
    assert torch.equal(warp_validity(valid, grid), valid)


def test_random_tps_depends_on_the_generator_only():
    a = random_tps_grid(2, 8, 8, gen(1))
    assert torch.equal(a, random_tps_grid(2, 8, 8, gen(1)))
    assert not torch.equal(a, random_tps_grid(2, 8, 8, gen(2)))


# --- photometric ---------------------------------------------------------------------------

def test_hsv_round_trip():
    rgb = torch.rand(2, 3, 8, 8, generator=gen())
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-5)


@pytest.mark.parametrize("bands", [1, 3, 5])
def test_photometric_jitter_changes_values_keeps_nodata_and_range(bands):
    x = torch.randn(2, bands, 16, 16, generator=gen())
    valid = torch.ones(2, 16, 16, dtype=torch.bool)
    valid[:, :3] = False
    x = x * valid[:, None]
    out = photometric_jitter(x, valid, gen(3))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert (out[:, :, :3] == 0).all()
    assert not torch.allclose(out, x, atol=1e-3)
    # Values stay within each image's original range (jitter happens inside its [0, 1] mapping).
    assert out[valid[:, None].expand_as(x)].min() >= x[valid[:, None].expand_as(x)].min() - 1e-4
    assert out.max() <= x.max() + 1e-4


def test_mild_jitter_keeps_the_colour_and_none_is_the_identity():
    # A red-dominated image with some texture: the strong jitter permutes channels for some
    # draws (red is no longer the top band); the mild one never does and changes values less.
    x = torch.zeros(8, 3, 8, 8)
    x[:, 0] = 0.6 + 0.3 * torch.rand(8, 8, 8, generator=gen(1))
    x[:, 1:] = 0.1 * torch.rand(8, 2, 8, 8, generator=gen(2))
    valid = torch.ones(8, 8, 8, dtype=torch.bool)
    red_top = lambda out: (out.mean((2, 3)).argmax(1) == 0)  # noqa: E731
    strong = photometric_jitter(x, valid, gen(5))
    mild = photometric_jitter(x, valid, gen(5), "mild")
    assert not red_top(strong).all() and red_top(mild).all()
    assert (mild - x).abs().mean() < (strong - x).abs().mean()
    assert not torch.allclose(mild, x, atol=1e-3)
    assert torch.equal(photometric_jitter(x, valid, gen(5), "none"), x)
    one_band = torch.randn(4, 1, 8, 8, generator=gen(3))
    ones = torch.ones(4, 8, 8, dtype=torch.bool)
    assert (photometric_jitter(one_band, ones, gen(4), "mild") - one_band).abs().mean() < (photometric_jitter(one_band, ones, gen(4)) - one_band).abs().mean()


def test_band_jitter_acts_per_band():
    x = torch.linspace(0, 1, 16 * 16).reshape(1, 1, 16, 16).repeat(1, 2, 1, 1)
    out = band_jitter(x, torch.ones(1, 16, 16, dtype=torch.bool), gen(0))
    assert not torch.allclose(out[:, 0], out[:, 1])


# --- losses ---------------------------------------------------------------------------------

def test_consistency_distances_vanish_at_the_target_and_grow_away_from_it():
    logits = torch.randn(2, 4, 5, 5, generator=gen())
    target = logits.softmax(1)
    for kind in ("mse", "kl", "js"):
        assert consistency_distance(logits, target, kind).abs().max() < 1e-6
        assert consistency_distance(logits + torch.randn(2, 4, 5, 5, generator=gen(1)), target, kind).mean() > 1e-4
    # mse is the mean over classes of the squared probability difference
    other = torch.randn(2, 4, 5, 5, generator=gen(2))
    assert torch.allclose(consistency_distance(other, target, "mse"), (other.softmax(1) - target).pow(2).mean(1))


def test_abce_threshold_ramps_from_one_over_c_to_point_nine():
    assert abce_threshold(0.0, 4) == pytest.approx(0.25)
    assert abce_threshold(0.4, 4) == pytest.approx(0.25 + 0.65 * (1 - math.exp(-5)))
    assert abce_threshold(1.0, 4) == abce_threshold(0.4, 4)


def test_abce_keeps_only_pixels_below_the_threshold():
    label = torch.tensor([[[0, 1, 255]]])
    logits = torch.zeros(1, 2, 1, 3)
    logits[0, 0, 0, 0] = 10.0  # pixel 0: confidently right (p ~ 1) -> dropped
    logits[0, 0, 0, 1] = 1.0  # pixel 1: wrong-ish (p_true ~ 0.27) -> kept
    loss = annealed_bootstrapped_ce(logits, label, threshold=0.5)
    expected = F.cross_entropy(logits[..., 1:2], label[..., 1:2])
    assert loss.item() == pytest.approx(expected.item())


# --- self-supervised losses -------------------------------------------------------------------

def _two_colour_image():
    x = torch.zeros(1, 3, 8, 8)
    x[:, :, :, 4:] = torch.tensor([1.0, -0.5, 2.0])[:, None, None]
    truth = torch.zeros(1, 8, 8, dtype=torch.long)
    truth[:, :, 4:] = 1
    return x, truth


def test_relaxed_kmeans_is_minimal_for_hard_memberships_matching_the_colour_clusters():
    x, truth = _two_colour_image()
    valid = torch.ones(1, 8, 8, dtype=torch.bool)
    hard = F.one_hot(truth, 2).permute(0, 3, 1, 2).float()
    best = relaxed_kmeans_loss(x, hard, valid, alpha=1.0)
    assert best.item() == pytest.approx(0.0, abs=1e-6)
    wrong = hard.roll(2, dims=3)  # hard, but not along the colour boundary
    soft = 0.8 * hard + 0.1
    rand = torch.rand(1, 2, 8, 8, generator=gen()).softmax(1)
    for other in (wrong, soft, rand, torch.full_like(hard, 0.5)):
        assert relaxed_kmeans_loss(x, other, valid, alpha=1.0) > best + 1e-3


def test_relaxed_kmeans_hardness_term_is_per_pixel_normalised():
    x = torch.zeros(1, 1, 4, 4)
    uniform = torch.full((1, 4, 4, 4), 0.25)
    loss = relaxed_kmeans_loss(x, uniform, torch.ones(1, 4, 4, dtype=torch.bool), alpha=1.0)
    assert loss.item() == pytest.approx(1 - 1 / 4)


def test_mumford_shah_prefers_the_true_partition_and_penalises_ragged_memberships():
    x, truth = _two_colour_image()
    valid = torch.ones(1, 8, 8, dtype=torch.bool)
    hard = F.one_hot(truth, 2).permute(0, 3, 1, 2).float()
    best = mumford_shah_loss(x, hard, valid, alpha=0.1)
    checker = F.one_hot((torch.arange(64).reshape(1, 8, 8) + torch.arange(8)[:, None]) % 2, 2).permute(0, 3, 1, 2).float()
    assert mumford_shah_loss(x, hard.roll(2, dims=3), valid, 0.1) > best
    assert mumford_shah_loss(x, checker, valid, 0.1) > best
    # Without a TV term the fit alone is zero at the true partition.
    assert mumford_shah_loss(x, hard, valid, 0.0).item() == pytest.approx(0.0, abs=1e-6)


def test_mumford_shah_ignores_memberships_on_nodata_pixels():
    """Nodata carries no image: raggedness there must not cost anything (nor pull the TV weight)."""
    x, truth = _two_colour_image()
    hard = F.one_hot(truth, 2).permute(0, 3, 1, 2).float()
    valid = torch.ones(1, 8, 8, dtype=torch.bool)
    valid[:, 5:] = False
    ragged = hard.clone()
    ragged[:, :, 6:] = torch.rand(1, 2, 2, 8).softmax(1)  # noise on rows that are all nodata
    assert mumford_shah_loss(x, ragged, valid, 0.5).item() == pytest.approx(mumford_shah_loss(x, hard, valid, 0.5).item())


def test_jigsaw_permutations_have_the_greedy_max_hamming_property():
    perms = max_hamming_permutations(12)
    assert perms.shape == (12, 9) and len({tuple(p) for p in perms.tolist()}) == 12
    every = torch.tensor(list(itertools.permutations(range(9))), dtype=torch.int8)
    total = torch.zeros(len(every))
    for i in range(1, len(perms)):
        total += (every != perms[i - 1].to(torch.int8)).sum(1)  # summed distance to the first i chosen
        chosen = (every == perms[i].to(torch.int8)).all(1)
        assert total[chosen].item() == total.max().item()
    hamming = (perms[:, None] != perms[None]).sum(2)
    # Random pairs of permutations of 9 differ in 8 places on average; the greedy set does better.
    assert hamming[~torch.eye(12, dtype=torch.bool)].float().mean() > 8.5
    assert torch.equal(max_hamming_permutations(12), perms)  # a function of the count alone


def test_jigsaw_shuffle_places_patch_perm_j_in_slot_j():
    x = torch.arange(9.0).reshape(1, 1, 3, 3).repeat_interleave(4, 2).repeat_interleave(4, 3)  # patch k holds k
    perms = max_hamming_permutations(5)
    shuffled, target = jigsaw_shuffle(x, perms, gen(4))
    slots = shuffled[0, 0, ::4, ::4].flatten()
    assert torch.equal(slots.long(), perms[target[0]])


# --- every method --------------------------------------------------------------------------

METHOD_CASES = [
    ("aux", {"task": "kmeans"}),
    ("aux", {"task": "inpainting"}),
    ("aux", {"task": "jigsaw", "permutations": 10}),
    ("s6", {}),
    ("cct", {"background": ["water"], "decoders": {"vat": 1, "dropout": 1, "cutout": 1, "feature_noise": 1, "feature_drop": 1}}),
    ("mean_teacher", {}),
]


@pytest.mark.parametrize("name,params", METHOD_CASES)
def test_same_seed_and_step_give_identical_losses(name, params):
    method = make_method(name, params)
    batch = batch_for(method, make_batch())
    first, _ = method.training_loss(batch, step_at(50))
    again, _ = method.training_loss(batch, step_at(50))
    assert first.item() == again.item()
    if (name, params.get("task")) not in (("s6", None), ("aux", "kmeans")):  # these draw no random numbers
        assert method.training_loss(batch, step_at(50, seed=1))[0].item() != first.item()


def test_parameters_are_validated_with_one_line_per_problem():
    names = ["water", "land"]
    assert check_method("aux", {"task": "sudoku"}, names)[0].startswith("job.json: method.task:")
    assert check_method("aux", {"lambda": 2.0, "split": "early"}, names) == []
    assert len(check_method("cct", {"decoders": {"vat": -1}, "distance": "l1"}, names)) == 2
    assert check_method("cct", {"background": ["land"]}, names) == []
    assert "unknown class names ['sky']" in check_method("cct", {"background": ["sky"]}, names)[0]
    assert check_method("mean_teacher", {"teacher": "simple", "alpha": 0.5}, names) == []
    assert check_method("s6", {"unknown": 1}, names) == ["job.json: method.unknown: unknown parameter"]


def test_s6_trains_the_papers_network_unless_the_job_names_another():
    from semiseg.train.methods import resolved_arch

    assert resolved_arch("s6", None) == "deeplabv3plus"
    assert resolved_arch("s6", "fpn") == "fpn"
    assert resolved_arch("supervised", None) == "unet"
