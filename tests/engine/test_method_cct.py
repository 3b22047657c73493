"""CCT: the main decoder learns from labels only, perturbations touch only the auxiliary paths."""

from __future__ import annotations

import math

import pytest
import torch

from method_helpers import domain_batch, make_batch, make_method, one_thread, step_at  # noqa: F401 (autouse fixture)
from semiseg.errors import UserError
from semiseg.train.methods.heads import decode
from semiseg.train.methods.losses import kl_divergence
from semiseg.train.methods.perturbations import PERTURBATIONS, Cue, FeatureNoise, VirtualAdversarial

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


def _vat_setup():
    """A fresh CCT with one I-VAT decoder, in eval mode (deterministic), and its clean features."""
    method = make_method("cct", {"decoders": {"vat": 1, "dropout": 0, "cutout": 0, "feature_drop": 0, "feature_noise": 0}}).eval()
    network, aux = branch(method).network, branch(method).aux_decoders[0]
    features = network.encoder(make_batch()["unlabeled"]["image"])  # with a graph, as in training
    with torch.no_grad():
        probs = decode(network, [f.detach() for f in features]).softmax(1)
    return method, aux.branch, features, Cue(probs, torch.tensor([], dtype=torch.long), torch.Generator().manual_seed(0))


def _divergence(decoder, features, probs, shift):
    """Per-sample mean KL(main prediction || decoder(features + shift)), shift on levels 1.. only."""
    with torch.no_grad():
        levels = [features[0].detach()] + [f.detach() + s for f, s in zip(features[1:], shift)]
        return kl_divergence(probs, decoder(levels).log_softmax(1)).mean((1, 2))


def test_vat_perturbation_has_norm_eps_beats_random_and_leaves_no_parameter_gradient():
    """I-VAT's r_adv: norm eps per sample (over all perturbed levels), adversarial, computed without .grad."""
    method, decoder, features, cue = _vat_setup()
    vat = VirtualAdversarial()
    out = vat(features, cue, decoder)
    assert all(p.grad is None for p in method.parameters())  # autograd.grad, not backward
    assert torch.equal(out[0], features[0])
    r_adv = [o.detach() - f.detach() for o, f in zip(out[1:], features[1:])]
    norm = torch.sqrt(sum(r.flatten(1).pow(2).sum(1) for r in r_adv))
    assert torch.allclose(norm, torch.full_like(norm, vat.eps), rtol=1e-4)

    clean = _divergence(decoder, features, cue.probs, [torch.zeros_like(r) for r in r_adv])
    gain = _divergence(decoder, features, cue.probs, r_adv) - clean
    g = torch.Generator().manual_seed(1)
    random_gains = []
    for _ in range(5):
        d = VirtualAdversarial._unit([torch.randn(r.shape, generator=g) for r in r_adv])
        random_gains.append((_divergence(decoder, features, cue.probs, [vat.eps * t for t in d]) - clean).abs())
    # Measured: adversarial ~0.37 per sample, random below 0.002.
    assert (gain > 10 * torch.stack(random_gains).max(0).values).all()


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


def test_training_loss_adds_the_ramped_unsupervised_part_with_cct_weight_and_warmup():
    """CCT's wiring of its own weight / warm-up (the ramp itself is tested in test_method_shared.py)."""
    method = make_method("cct", {"decoders": {"vat": 0, "cutout": 0, "feature_drop": 0, "dropout": 0}, "weight": 7.0, "warmup": 0.5})
    batch = make_batch()
    loss, parts = method.training_loss(domain_batch(batch), step_at(40))  # in the warm-up
    assert parts["w_u"] == 0.0 and parts["unsup"] > 0 and loss.item() == pytest.approx(parts["sup"])
    loss, parts = method.training_loss(domain_batch(batch), step_at(90))  # past warm-up + ramp-up
    assert parts["w_u"] == 7.0 and parts["unsup"] > 0
    assert loss.item() == pytest.approx(parts["sup"] + 7.0 * parts["unsup"], rel=1e-5)


def test_confidence_mask_drops_uncertain_targets():
    method = make_method("cct", {"decoders": {"vat": 0, "cutout": 0, "feature_drop": 0, "dropout": 0}, "confidence": 0.999})
    batch = make_batch()
    # A fresh network is unsure everywhere: nothing passes a 0.999 threshold, the loss is 0.
    assert unsupervised_loss(method, batch, step_at(60)).item() == 0.0


def _abce_case():
    """One image, 3 classes, labelled pixels of known true-class probability: 0.95, 0.6 and 0.2."""
    logits = torch.zeros(1, 3, 1, 4)
    label = torch.tensor([[[0, 1, 2, 255]]])
    for px, (k, p) in enumerate([(0, 0.95), (1, 0.6), (2, 0.2)]):
        logits[0, :, 0, px] = math.log((1 - p) / 2)
        logits[0, k, 0, px] = math.log(p)
    ce = -torch.log(torch.tensor([0.95, 0.6, 0.2]))
    return logits, label, ce


def test_abce_averages_ce_over_labelled_pixels_still_below_the_annealed_threshold():
    """ABCE: only pixels whose true-class probability is under the threshold (1/C -> 0.9) count."""
    method = make_method("cct", {"decoders": {"vat": 0}, "abce": True})
    plain = make_method("cct", {"decoders": {"vat": 0}})
    logits, label, ce = _abce_case()
    # Step 0: threshold 1/3, only the 0.2 pixel counts.
    assert method.supervised_loss(logits, label, step_at(0)).item() == pytest.approx(ce[2].item(), rel=1e-5)
    # Progress 0.9: threshold ~0.9, the 0.6 and 0.2 pixels count, the confident 0.95 does not.
    assert method.supervised_loss(logits, label, step_at(90)).item() == pytest.approx(ce[1:].mean().item(), rel=1e-5)
    assert plain.supervised_loss(logits, label, step_at(90)).item() == pytest.approx(ce.mean().item(), rel=1e-5)
    # A confident pixel's logits do not matter, as long as it stays confident.
    sharper = logits.clone()
    sharper[0, 0, 0, 0] += 3.0
    assert method.supervised_loss(sharper, label, step_at(90)).item() == pytest.approx(ce[1:].mean().item(), rel=1e-5)


def test_abce_leaves_the_unsupervised_part_unchanged():
    """Same weights, batch and step: choosing ABCE changes `sup` only, never the consistency loss."""
    batch = make_batch()
    decoders = {"vat": 1, "cutout": 0, "feature_drop": 0, "dropout": 0}
    _, plain = make_method("cct", {"decoders": decoders, "confidence": None}).training_loss(domain_batch(batch), step_at(60))
    _, boot = make_method("cct", {"decoders": decoders, "confidence": None, "abce": True}).training_loss(domain_batch(batch), step_at(60))
    assert boot["unsup"] == plain["unsup"] and plain["unsup"] > 0
    assert boot["sup"] != plain["sup"]


def test_inference_network_is_the_main_branch_untouched_by_the_auxiliary_decoders():
    """Exported model = encoder + main decoder; the auxiliary decoders are training-only."""
    method = make_method("cct", {}).eval()
    x = make_batch()["unlabeled"]["image"]
    with torch.no_grad():
        before = method.inference_network()(x)
        for aux in branch(method).aux_decoders:
            for p in aux.parameters():
                p.add_(torch.randn_like(p))
        assert torch.equal(method.inference_network()(x), before)
        head = branch(method).network.segmentation_head[0]
        head.weight.add_(torch.randn_like(head.weight))  # the check is sensitive: the main head does matter
        assert not torch.allclose(method.inference_network()(x), before)
    assert method.inference_network() is branch(method).network
