"""BerundaNet (aux) and S6: which parts each loss trains, and S6's separate decoder statistics."""

from __future__ import annotations

import torch
import torch.nn as nn

from method_helpers import make_batch, make_method, one_thread, step_at  # noqa: F401 (autouse fixture)
from semiseg.train.methods.aux import DEFAULT_LAMBDA


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


def test_inpainting_loss_looks_only_inside_the_holes():
    """Changing the image outside the holes changes the input, but the target is only the hole."""
    method = make_method("aux", {"task": "inpainting", "mask_size": 0.25})
    method.eval()  # fixed statistics: the output depends on this image only
    batch = make_batch()
    x = torch.cat([batch["labeled"]["image"], batch["unlabeled"]["image"]])
    valid = torch.ones(x.shape[0], 64, 64, dtype=torch.bool)
    from semiseg.train.methods.selfsup import inpainting_loss, square_masks

    holes = square_masks(x.shape[0], 64, 64, 16, step_at(5).generator)
    assert holes.flatten(1).sum(1).eq(256).all()
    x_hat = torch.randn_like(x)
    changed = torch.where(holes[:, None], x_hat, x_hat + 5.0)  # different only outside the holes
    assert torch.equal(inpainting_loss(x, x_hat, holes, valid), inpainting_loss(x, changed, holes, valid))
    assert method._inpainting(x, valid, step_at(5)).item() > 0


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
