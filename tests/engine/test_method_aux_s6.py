"""BerundaNet (aux) and S6: which parts each loss trains, and S6's separate decoder statistics."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from method_helpers import make_batch, make_method, one_thread, step_at  # noqa: F401 (autouse fixture)
from semiseg.train.methods.aux import DEFAULT_LAMBDA
from semiseg.train.methods.selfsup import square_masks


def grads_of(module: nn.Module) -> list[torch.Tensor]:
    return [p.grad for p in module.parameters() if p.grad is not None and p.grad.abs().sum() > 0]


def unsup_only(method, batch):
    """Make the supervised part vanish (no labelled pixel) so only the unsupervised loss trains."""
    batch["labeled"]["label"].fill_(255)
    loss, parts = method.training_loss(batch, step_at(10))
    loss.backward()
    return parts


def test_late_split_trains_the_shared_decoder_with_the_unsupervised_loss_but_not_the_class_head():
    method = make_method("aux", {"task": "rec_l2", "split": "late"})
    parts = unsup_only(method, make_batch())
    assert parts["unsup"] > 0
    assert grads_of(method.network.encoder) and grads_of(method.network.decoder) and grads_of(method.unsup_head)
    assert not grads_of(method.network.segmentation_head)


def test_early_split_keeps_the_segmentation_decoder_out_of_the_unsupervised_loss():
    method = make_method("aux", {"task": "kmeans", "split": "early"})
    unsup_only(method, make_batch())
    assert grads_of(method.network.encoder) and grads_of(method.unsup_head)
    assert not grads_of(method.network.decoder) and not grads_of(method.network.segmentation_head)


def test_lambda_defaults_to_the_papers_best_per_task_and_scales_the_unsupervised_part():
    batch = make_batch()
    for task in ("rec_l1", "inpainting"):
        method = make_method("aux", {"task": task})
        loss, parts = method.training_loss(batch, step_at(3))
        assert abs(loss.item() - (parts["sup"] + DEFAULT_LAMBDA[task] * parts["unsup"])) < 1e-4
    method = make_method("aux", {"task": "rec_l1", "lambda": 2.0})
    loss, parts = method.training_loss(batch, step_at(3))
    assert abs(loss.item() - (parts["sup"] + 2.0 * parts["unsup"])) < 1e-4


def test_inpainting_encoder_sees_mean_filled_holes_and_the_loss_is_l2_over_valid_hole_pixels():
    """Context encoder: the holes are filled with the image's valid-pixel mean before the encoder, and only
    the (valid) hole pixels are reconstructed."""
    method = make_method("aux", {"task": "inpainting", "mask_size": 0.25})
    method.eval()  # fixed statistics: the output depends on this image only
    batch = make_batch()
    x = torch.cat([batch["labeled"]["image"], batch["unlabeled"]["image"]])
    valid = torch.ones(x.shape[0], 64, 64, dtype=torch.bool)
    valid[:, :, :8] = False  # nodata: neither in the fill's mean nor in the loss
    seen = {}
    method.network.encoder.register_forward_pre_hook(lambda m, args: seen.__setitem__("input", args[0].detach()))
    method.unsup_head.register_forward_hook(lambda m, args, out: seen.__setitem__("output", out.detach()))
    loss = method._inpainting(x, valid, step_at(5))
    holes = square_masks(x.shape[0], 64, 64, 16, step_at(5).generator)  # the same draw: the generator is seeded by step

    fed, h = seen["input"], holes[:, None].expand_as(x)
    assert torch.equal(fed[~h], x[~h])  # outside the holes: the image itself
    mean = (x * valid[:, None]).sum((2, 3)) / valid.sum((1, 2))[:, None]
    for i in range(x.shape[0]):
        inside = fed[i][:, holes[i]]  # (bands, 256): a constant per band, the valid-pixel mean
        assert torch.allclose(inside, mean[i][:, None].expand_as(inside), atol=1e-5)
    counted = holes & valid
    assert counted.any() and (holes & ~valid).any()  # the draw puts part of some hole on nodata
    expected = (seen["output"] - x).pow(2).mean(1)[counted].mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_jigsaw_head_classifies_permutations_from_the_encoder():
    method = make_method("aux", {"task": "jigsaw", "permutations": 20})
    assert method.permutations.shape == (20, 9)
    assert method.unsup_head[-2].out_features == 20
    parts = unsup_only(method, make_batch())
    assert parts["unsup"] > 0
    assert grads_of(method.network.encoder) and not grads_of(method.network.decoder)


def test_s6_decoders_keep_separate_batchnorm_statistics():
    """The segmentation decoder's BN sees labelled windows only, the reconstruction decoder's all windows."""
    method = make_method("s6", {}, arch="deeplabv3plus")
    seen: dict[nn.Module, set[int]] = {}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: seen.setdefault(mod, set()).add(inp[0].shape[0]))
        for m in method.modules()
        if isinstance(m, nn.BatchNorm2d)
    ]
    seg_bn = [m for m in method.network.decoder.modules() if isinstance(m, nn.BatchNorm2d)]
    rec_bn = [m for m in method.reconstruction.modules() if isinstance(m, nn.BatchNorm2d)]
    assert seg_bn and rec_bn and not set(seg_bn) & set(rec_bn)
    before = {m: m.running_mean.clone() for m in seg_bn + rec_bn}
    batch = make_batch(batch=2)
    method.training_loss(batch, step_at(1))
    for h in hooks:
        h.remove()
    assert all(seen[m] == {2} for m in seg_bn)  # labelled windows only
    assert all(seen[m] == {4} for m in rec_bn)  # labelled + unlabeled
    assert all(not torch.equal(before[m], m.running_mean) for m in seg_bn + rec_bn)


def test_s6_unlabeled_windows_feed_only_the_reconstruction_loss():
    method = make_method("s6", {}).eval()  # running statistics: no coupling through batch statistics
    batch = make_batch()
    _, parts = method.training_loss(batch, step_at(1))
    batch["unlabeled"]["image"] += 3.0
    _, changed = method.training_loss(batch, step_at(1))
    assert changed["sup"] == parts["sup"]
    assert changed["rec"] != parts["rec"]
    assert method.inference_network() is method.network
