"""CCT: the main decoder learns from labels only, perturbations touch only the auxiliary paths."""

from __future__ import annotations

import pytest
import torch

from method_helpers import make_batch, make_method, one_thread, step_at  # noqa: F401 (autouse fixture)
from semiseg.errors import UserError
from semiseg.train.methods.heads import decode
from semiseg.train.methods.perturbations import PERTURBATIONS, Cue, FeatureNoise

ALL_ONE = {k: 1 for k in PERTURBATIONS}


def branch(method):
    """The one domain's network and auxiliary decoders."""
    return method.branch("default")


def unsupervised_loss(method, batch, step):
    return branch(method).unsupervised_loss(batch["unlabeled"]["image"], batch["unlabeled"]["valid"], step, method.params)


def nonzero_grads(module):
    return [p for p in module.parameters() if p.grad is not None and p.grad.abs().sum() > 0]


def test_main_decoder_gets_no_gradient_from_the_unlabeled_loss_but_the_encoder_does():
    method = make_method("cct", {"decoders": ALL_ONE, "background": ["water"], "confidence": None})
    batch = make_batch()
    unsup = unsupervised_loss(method, batch, step_at(60))
    unsup.backward()
    assert unsup.item() > 0
    network = branch(method).network
    assert nonzero_grads(network.encoder)
    assert not nonzero_grads(network.decoder) and not nonzero_grads(network.segmentation_head)
    assert all(nonzero_grads(aux) for aux in branch(method).aux_decoders)


def test_perturbations_change_features_only_on_the_auxiliary_paths():
    method = make_method("cct", {"decoders": ALL_ONE, "background": ["water"], "confidence": None})
    batch = make_batch()
    image = batch["unlabeled"]["image"]
    main_inputs, aux_inputs = [], []
    network = branch(method).network
    network.decoder.register_forward_pre_hook(lambda m, args: main_inputs.append([f.detach().clone() for f in args[0]]))
    for aux in branch(method).aux_decoders:
        aux.branch[0].register_forward_pre_hook(lambda m, args, kind=aux.kind: aux_inputs.append((kind, [f.detach() for f in args[0]])))
    unsupervised_loss(method, batch, step_at(60))
    clean = network.encoder(image)
    assert len(main_inputs) == 1  # the target pass
    for got, want in zip(main_inputs[0], clean):
        assert torch.allclose(got, want, atol=1e-6)
    last = dict(aux_inputs)  # I-VAT's decoder also runs once for its power iteration; its last pass counts
    assert set(last) == set(PERTURBATIONS)
    for kind, feats in last.items():
        assert torch.equal(feats[0], clean[0])  # the input level is never perturbed
        assert any(not torch.allclose(f, c, atol=1e-4) for f, c in zip(feats[1:], clean[1:])), kind


def test_feature_noise_is_shared_over_the_batch_and_within_thirty_percent():
    f = [torch.zeros(2, 3, 4, 4), torch.ones(2, 8, 4, 4)]
    cue = Cue(torch.full((2, 3, 8, 8), 1 / 3), torch.tensor([], dtype=torch.long), torch.Generator().manual_seed(0))
    out = FeatureNoise()(f, cue, None)
    assert torch.equal(out[0], f[0])
    assert torch.equal(out[1][0], out[1][1])
    assert (out[1] - 1).abs().max() <= 0.3 and (out[1] - 1).abs().max() > 0.1


def test_object_and_context_masks_are_off_without_background_classes():
    kinds = [aux.kind for aux in branch(make_method("cct", {"decoders": ALL_ONE})).aux_decoders]
    assert "object_mask" not in kinds and "context_mask" not in kinds and "cutout" in kinds
    kinds = [aux.kind for aux in branch(make_method("cct", {"decoders": ALL_ONE, "background": ["forest"]})).aux_decoders]
    assert "object_mask" in kinds and "context_mask" in kinds
    with pytest.raises(UserError, match="unknown class names"):
        make_method("cct", {"background": ["sky"]})


def test_object_and_context_masks_keep_complementary_regions():
    probs = torch.zeros(1, 3, 8, 8)
    probs[:, 0, :, :4] = 1  # class 0 (background) on the left
    probs[:, 1, :, 4:] = 1
    cue = Cue(probs, torch.tensor([0]), torch.Generator())
    feats = [torch.ones(1, 3, 8, 8), torch.ones(1, 4, 4, 4)]
    obj = PERTURBATIONS["object_mask"]()(feats, cue, None)[1]
    ctx = PERTURBATIONS["context_mask"]()(feats, cue, None)[1]
    assert obj[..., :2].abs().sum() == 0 and (obj[..., 2:] == 1).all()
    assert torch.equal(obj + ctx, feats[1])


def test_guided_cutout_erases_a_box_inside_each_objects_bounding_box():
    probs = torch.zeros(1, 2, 20, 20)
    probs[:, 0] = 1
    probs[:, 0, 5:15, 5:15], probs[:, 1, 5:15, 5:15] = 0, 1  # a 10x10 object of class 1
    cue = Cue(probs, torch.tensor([0]), torch.Generator().manual_seed(1))
    out = PERTURBATIONS["cutout"]()([torch.ones(1, 1, 20, 20), torch.ones(1, 2, 20, 20)], cue, None)[1]
    erased = out[0, 0] == 0
    assert erased.sum() == 16  # 40 % x 40 % of 10 x 10
    rows, cols = torch.nonzero(erased, as_tuple=True)
    assert rows.min() >= 5 and rows.max() < 15 and cols.min() >= 5 and cols.max() < 15


@pytest.mark.parametrize("distance", ["mse", "kl", "js"])
def test_unsupervised_weight_follows_the_warmup_and_ramp(distance):
    method = make_method("cct", {"decoders": {"vat": 0, "cutout": 0, "feature_drop": 0, "dropout": 0}, "distance": distance})
    batch = make_batch()
    loss, parts = method.training_loss(batch, step_at(5))  # in the warm-up
    assert parts["w_u"] == 0.0 and loss.item() == pytest.approx(parts["sup"])
    loss, parts = method.training_loss(batch, step_at(90))
    assert parts["w_u"] == 30.0 and parts["unsup"] > 0
    assert loss.item() == pytest.approx(parts["sup"] + 30.0 * parts["unsup"], rel=1e-5)


def test_confidence_mask_drops_uncertain_targets():
    method = make_method("cct", {"decoders": {"vat": 0, "cutout": 0, "feature_drop": 0, "dropout": 0}, "confidence": 0.999})
    batch = make_batch()
    # A fresh network is unsure everywhere: nothing passes a 0.999 threshold, the loss is 0.
    assert unsupervised_loss(method, batch, step_at(60)).item() == 0.0


def test_abce_changes_only_the_supervised_loss():
    batch = make_batch()
    plain = make_method("cct", {"decoders": {"vat": 0}})
    boot = make_method("cct", {"decoders": {"vat": 0}, "abce": True})
    with torch.no_grad():
        logits = branch(boot).network(batch["labeled"]["image"])
    early = boot.supervised_loss(logits, batch["labeled"]["label"], step_at(0))
    full = plain.supervised_loss(logits, batch["labeled"]["label"], step_at(0))
    assert early.item() != full.item()  # at 1/C most pixels of a fresh network are already "confident"


def test_the_main_decoder_target_is_the_inference_networks_prediction():
    method = make_method("cct", {}).eval()
    x = make_batch()["unlabeled"]["image"]
    with torch.no_grad():
        network = branch(method).network
        assert torch.allclose(decode(network, network.encoder(x)), method.inference_network()(x))
