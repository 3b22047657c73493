"""Mean teacher with PhTPS: EMA teacher without gradient, one-way KL, and how each BN mode normalises the two passes."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from method_helpers import make_batch, make_method, one_thread, step_at  # noqa: F401 (autouse fixture)
from semiseg.train.methods.cutmix import random_boxes
from semiseg.train.methods.mean_teacher import ema_decay


def bn_buffers(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}


def test_teacher_weights_follow_the_ema_formula_and_get_no_gradient():
    method = make_method("mean_teacher", {"warmup": 0.0, "rampup": 0.0})
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1)
    expected = {k: v.clone() for k, v in method.teacher.state_dict().items()}
    batch = make_batch()
    for k in range(3):  # Lightning's global_step while step k runs: the k-th update is the (k + 1)-th
        opt.zero_grad()
        loss, _ = method.training_loss(batch, step_at(k))
        loss.backward()
        assert all(p.grad is None for p in method.teacher.parameters())
        opt.step()
        d = ema_decay(0.99, k + 1)
        for name, s in method.student.state_dict().items():
            expected[name] = d * expected[name] + (1 - d) * s if s.is_floating_point() else s.clone()
        method.after_optimizer_step(step_at(k))
    got = method.teacher.state_dict()
    assert all(torch.allclose(got[n], expected[n], atol=1e-6) for n in expected)
    assert any(not torch.allclose(got[n], method.student.state_dict()[n]) for n in expected)  # it lags the student
    assert ema_decay(0.99, 1) == 0.0 and ema_decay(0.99, 1000) == 0.99


def test_teacher_stays_in_eval_mode_and_out_of_the_optimizer():
    method = make_method("mean_teacher", {})
    method.train()
    assert method.student.training and not method.teacher.training
    assert not any(p.requires_grad for p in method.teacher.parameters())
    assert method.inference_network() is method.teacher
    by_student = make_method("mean_teacher", {"predict_with": "student"})
    assert by_student.inference_network() is by_student.student
    simple = make_method("mean_teacher", {"teacher": "simple"})
    assert not hasattr(simple, "teacher") and simple.inference_network() is simple.student


@pytest.mark.parametrize("teacher", ["ema", "simple"])
def test_separate_batchnorm_leaves_the_running_statistics_to_the_labelled_pass(teacher):
    method = make_method("mean_teacher", {"warmup": 0.0, "rampup": 0.0, "batchnorm": "separate", "teacher": teacher})
    batch = make_batch()
    start = bn_buffers(method.student)
    loss, parts = method.training_loss(batch, step_at(50))
    after_step = bn_buffers(method.student)
    # The same student, labelled pass only:
    for name, value in start.items():
        method.student.state_dict()[name].copy_(value)
    method.student(batch["labeled"]["image"])
    labelled_only = bn_buffers(method.student)
    assert parts["cons"] > 0
    assert all(torch.equal(after_step[n], labelled_only[n]) for n in start)
    assert any(not torch.equal(after_step[n], start[n]) for n in start)


@pytest.mark.parametrize("teacher", ["ema", "simple"])
def test_joint_batchnorm_the_default_normalises_labelled_and_perturbed_windows_together(teacher):
    method = make_method("mean_teacher", {"warmup": 0.0, "rampup": 0.0, "teacher": teacher})
    batch = make_batch()
    start = bn_buffers(method.student)
    _, parts = method.training_loss(batch, step_at(50))
    after_step = bn_buffers(method.student)

    def running_stats_after(images: torch.Tensor) -> dict[str, torch.Tensor]:
        for name, value in start.items():
            method.student.state_dict()[name].copy_(value)
        method.student(images)
        return bn_buffers(method.student)

    perturbed, _, _ = method.perturbed_view(batch["unlabeled"]["image"], batch["unlabeled"]["valid"], step_at(50))
    together = running_stats_after(torch.cat([batch["labeled"]["image"], perturbed]))
    labelled_only = running_stats_after(batch["labeled"]["image"])
    assert parts["cons"] > 0
    assert all(torch.allclose(after_step[n], together[n]) for n in start)
    assert any(not torch.allclose(after_step[n], labelled_only[n]) for n in start if "running" in n)


def test_consistency_is_zero_when_the_student_matches_the_teacher_on_an_unperturbed_view(monkeypatch):
    import semiseg.train.methods.mean_teacher as mt

    monkeypatch.setattr(mt, "photometric_jitter", lambda x, valid, gen, strength: x)
    method = make_method("mean_teacher", {"tps_sigma": 0.0, "confidence": None}).eval()
    batch = make_batch()
    cons = method.consistency_loss(batch["unlabeled"]["image"], batch["unlabeled"]["valid"], step_at(50))
    assert cons.item() == pytest.approx(0.0, abs=1e-5)
    method.teacher.segmentation_head[0].bias.data += torch.tensor([1.0, 0.0, -1.0])
    assert method.consistency_loss(batch["unlabeled"]["image"], batch["unlabeled"]["valid"], step_at(50)).item() > 1e-3


def test_consistency_gradient_reaches_only_the_student():
    method = make_method("mean_teacher", {"confidence": None})
    batch = make_batch()
    cons = method.consistency_loss(batch["unlabeled"]["image"], batch["unlabeled"]["valid"], step_at(50))
    cons.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.student.parameters())
    assert all(p.grad is None for p in method.teacher.parameters())


def test_weight_alpha_is_zero_in_warmup_and_full_after_the_ramp():
    batch = make_batch(in_channels=1)  # one band: the per-band jitter path
    method = make_method("mean_teacher", {"alpha": 0.5}, in_channels=1)
    loss, parts = method.training_loss(batch, step_at(2))
    assert parts["alpha"] == 0.0 and loss.item() == pytest.approx(parts["sup"])
    loss, parts = method.training_loss(batch, step_at(95))
    assert parts["alpha"] == 0.5 and loss.item() == pytest.approx(parts["sup"] + 0.5 * parts["cons"], rel=1e-5)


def test_cutmix_boxes_have_the_sampled_size_and_probability():
    gen = torch.Generator().manual_seed(0)
    boxes = random_boxes(400, 64, 48, gen, probability=1.0)
    fraction = boxes.float().mean((1, 2))
    rows, cols = boxes.any(2).sum(1), boxes.any(1).sum(1)
    assert torch.equal(rows * cols, boxes.sum((1, 2)))  # one solid rectangle per window
    assert fraction.min() >= 0.015 and fraction.max() <= 0.41 and fraction.std() > 0.05
    assert not random_boxes(50, 64, 48, gen, probability=0.0).any()
    assert 0.35 < random_boxes(400, 64, 48, gen, probability=0.5).any((1, 2)).float().mean() < 0.65


def test_cutmix_pastes_the_neighbours_pixels_and_the_teachers_prediction_on_it_alike():
    method = make_method("mean_teacher", {"cutmix": 1.0, "tps_sigma": 0.0, "photometric": "none", "confidence": None}).eval()
    batch = make_batch()
    image, valid = batch["unlabeled"]["image"], batch["unlabeled"]["valid"]
    valid[:, :, : valid.shape[2] // 3] = 0  # nodata on the left third, pasted with the pixels
    valid[1] = 1
    perturbed, target, mask = method.perturbed_view(image, valid, step_at(50))
    boxes = random_boxes(image.shape[0], *image.shape[2:], step_at(50).generator, 1.0)  # the same draw
    assert boxes.any((1, 2)).all() and not boxes.all((1, 2)).any()
    clean = method.teacher_probs(image)
    for i in range(image.shape[0]):
        j = (i + 1) % image.shape[0]
        inside, outside = boxes[i], ~boxes[i]
        assert torch.allclose(perturbed[i][:, inside], image[j][:, inside] * valid[j][inside], atol=1e-6)
        assert torch.allclose(perturbed[i][:, outside], image[i][:, outside] * valid[i][outside], atol=1e-6)
        assert torch.allclose(target[i][:, inside], clean[j][:, inside], atol=1e-5)
        assert torch.allclose(target[i][:, outside], clean[i][:, outside], atol=1e-5)
        assert torch.equal(mask[i][inside], valid[j][inside].bool()) and torch.equal(mask[i][outside], valid[i][outside].bool())
    # without cutmix the same call leaves the windows whole
    plain = make_method("mean_teacher", {"tps_sigma": 0.0, "photometric": "none"}).eval()
    plain.load_state_dict(method.state_dict())
    unmixed, _, _ = plain.perturbed_view(image, valid, step_at(50))
    assert torch.allclose(unmixed, image * valid[:, None], atol=1e-6)
