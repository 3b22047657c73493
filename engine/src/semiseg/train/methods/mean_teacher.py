"""One-way consistency with a mean teacher and PhTPS perturbations (Grubisic, Orsic, Segvic).

The teacher (EMA of the student, or the student itself under stop-gradient) predicts on the
clean unlabeled window; the student sees the window photometrically jittered and TPS-warped,
and is pulled towards the teacher's prediction warped the same way (optionally with a box of
the neighbouring window pasted in first, `cutmix`):
L = L_sup + alpha(t) * mean over in-image pixels of KL(p_teacher || p_student).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Literal

import torch
import torch.nn as nn
from pydantic import Field

from semiseg.train.methods.base import KEY, Method, MethodContext, StepInfo
from semiseg.train.methods.cutmix import paste_from_neighbour, random_boxes
from semiseg.train.methods.losses import confident, kl_divergence, masked_mean, partial_cross_entropy
from semiseg.train.methods.photometric import photometric_jitter
from semiseg.train.methods.pseudo import BLEND_ON_VALIDATION, PseudoLabelParams, pseudo_label_loss, pseudo_weight
from semiseg.train.methods.ramps import unsupervised_weight
from semiseg.train.methods.tps import random_tps_grid, warp, warp_labels, warp_validity


class MeanTeacherParams(PseudoLabelParams):
    teacher: Literal["ema", "simple"] = Field(
        default="ema", description="ema: the teacher is a running average of the student (steadier targets); "
                                   "simple: the student itself without gradient")
    decay: float = Field(default=0.99, ge=0, lt=1,
                         description="EMA decay of the teacher: higher, the teacher changes more slowly and smooths more steps")
    alpha: float = Field(  # consistency weight at the end of the ramp-up
        default=1.0, ge=0, json_schema_extra=KEY,
        description="weight of the teacher-student consistency on unlabelled windows: higher, the unlabelled rasters "
                    "count more against the scribbles; 0 trains on the scribbles alone")
    warmup: float = Field(default=0.1, ge=0, le=1, description="supervised-only share of the run at its start: higher, the unlabelled loss starts later")
    rampup: float = Field(default=0.3, ge=0, le=1, description="share of the run over which the unlabelled loss's weight ramps up to its full value after the warm-up: higher, a gentler start")
    confidence: float | None = Field(  # mask teacher pixels below it; null: off
        default=0.5, ge=0, le=1, json_schema_extra=KEY,
        description="teacher pixels whose top probability is below this teach nothing: higher, fewer but surer "
                    "targets; off: every pixel teaches")
    tps_sigma: float = Field(default=0.1, ge=0,
                             description="strength of the student's random thin-plate-spline warp (std of its control "
                                         "points' offsets): higher, stronger geometric distortion")
    photometric: Literal["strong", "mild", "none"] = Field(  # PhTPS jitter strength (photometric.py)
        default="strong", description="colour/brightness jitter of the student's input: strong (the paper's), "
                                      "mild (ranges halved), none (the warp alone)")
    cutmix: float = Field(  # probability of pasting a neighbour's box before PhTPS (cutmix.py)
        default=0.0, ge=0, le=1,
        description="probability that an unlabelled window gets a box of another window pasted in before the "
                    "perturbation: higher, stronger mixing; 0: off (the paper's)")
    predict_with: Literal["teacher", "student"] = Field(  # which network is validated and exported (ema only)
        default="teacher", description="the network validated and exported: the EMA teacher or the student (ema only)")
    # "joint": one student pass over labelled and perturbed unlabeled windows together, so both
    # share batch statistics and both feed the running ones (which the EMA teacher inherits);
    # "separate" (the paper's): the perturbed pass normalises with its own batch and leaves the
    # running statistics to the labelled windows. Why joint is the default: docs/methods.md.
    batchnorm: Literal["joint", "separate"] = Field(
        default="joint", description="joint: labelled and perturbed unlabelled windows share batch statistics in one "
                                     "pass; separate (the paper's): the perturbed pass normalises with its own batch")
    # On by default (the engine's default method, docs/benchmarks.md): the exported model is the
    # blend of the network and a pixel forest fitted on the same scribbles that scores best on the
    # held-out validation blocks, so a job where the network learns less than the forest (another
    # season, another sensor) gets the forest's map instead of a worse one. One-domain jobs.
    blend_on_validation: bool = Field(
        default=True, json_schema_extra=KEY,
        description=BLEND_ON_VALIDATION)

    def problems(self, class_names: list[str]) -> list[str]:
        problems = super().problems(class_names)
        if self.pseudo_labels != "none" and self.batchnorm != "joint":
            problems.append("job.json: method.pseudo_labels: needs batchnorm 'joint' (the pseudo-labels of unlabelled windows join its student pass)")
        return problems


@contextlib.contextmanager
def frozen_batchnorm_stats(network: nn.Module):
    """Batch statistics are used but the running statistics are left as they are."""
    bns = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in bns:
            m.track_running_stats = True


def ema_decay(decay: float, updates: int) -> float:
    """min(decay, 1 - 1/updates): the teacher follows the student closely while it changes fast (UniMatch V2)."""
    return min(decay, 1.0 - 1.0 / max(1, updates))


class MeanTeacher(Method):
    Params = MeanTeacherParams
    uses_unlabeled = True

    def __init__(self, ctx: MethodContext, params: MeanTeacherParams):
        super().__init__(ctx, params)
        self.student = ctx.network(ctx.num_classes)
        if params.teacher == "ema":
            self.teacher = copy.deepcopy(self.student).eval()
            self.teacher.requires_grad_(False)

    def start_from(self, weights: dict[str, torch.Tensor]) -> None:
        """Student and teacher both start from the package (the teacher is what it exported)."""
        self.student.load_state_dict(weights)
        if self.params.teacher == "ema":
            self.teacher.load_state_dict(weights)

    def train(self, mode: bool = True):
        """The teacher always predicts in eval mode, whatever the loop asks of the student."""
        super().train(mode)
        if self.params.teacher == "ema":
            self.teacher.eval()
        return self

    @torch.no_grad()
    def teacher_probs(self, image: torch.Tensor) -> torch.Tensor:
        """The simple teacher is the training student under stop-gradient: batch statistics, but
        its clean pass must not feed the running ones (`batchnorm` decides what does)."""
        if self.params.teacher == "ema":
            return self.teacher(image).float().softmax(1)
        with frozen_batchnorm_stats(self.student):
            return self.student(image).float().softmax(1)

    def perturbed_view(self, image: torch.Tensor, valid: torch.Tensor, step: StepInfo):
        """(student input, teacher target warped alike, mask of pixels that count)."""
        return self.perturbed_view_with_pseudo(image, valid, step, None)[:3]

    def perturbed_view_with_pseudo(self, image: torch.Tensor, valid: torch.Tensor, step: StepInfo, pseudo: torch.Tensor | None):
        """perturbed_view, and the windows' pseudo-labels (or None) cut and warped alike."""
        p: MeanTeacherParams = self.params
        b, _, h, w = image.shape
        target = self.teacher_probs(image)
        gen = step.generator
        if p.cutmix > 0:  # the teacher saw each window whole; its predictions are pasted like the pixels
            boxes = random_boxes(b, h, w, gen, p.cutmix)
            image, target, valid = (paste_from_neighbour(t, boxes) for t in (image, target, valid))
            pseudo = paste_from_neighbour(pseudo, boxes) if pseudo is not None else None
        grid = random_tps_grid(b, h, w, gen, p.tps_sigma).to(image.device)
        jittered = self.jitter(image, valid, gen)
        perturbed = warp(jittered, grid).to(image.dtype)
        target = warp(target, grid)
        pseudo = warp_labels(pseudo, grid, target.shape[1]) if pseudo is not None else None
        return perturbed, target, warp_validity(valid, grid) & confident(target, p.confidence), pseudo

    def jitter(self, image: torch.Tensor, valid: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """PhTPS's photometric jitter of the bands; the forest's context channels stay as they are."""
        k = self.ctx.context_channels
        bands = image[:, : image.shape[1] - k]
        jittered = photometric_jitter(bands, valid.bool(), gen, self.params.photometric)
        return torch.cat([jittered, image[:, bands.shape[1] :]], 1) if k else jittered

    def consistency_loss(self, image: torch.Tensor, valid: torch.Tensor, step: StepInfo) -> torch.Tensor:
        """The consistency term alone, the student's batch-norm running statistics untouched."""
        perturbed, target, mask = self.perturbed_view(image, valid, step)
        with frozen_batchnorm_stats(self.student):
            log_q = self.student(perturbed).float().log_softmax(1)
        return masked_mean(kl_divergence(target, log_q), mask)

    def training_loss(self, batch: dict, step: StepInfo):
        p: MeanTeacherParams = self.params
        lab, unl = batch["labeled"], batch["unlabeled"]
        a = unsupervised_weight(step.progress, p.alpha, p.warmup, p.rampup)
        w = pseudo_weight(step.progress, p.pseudo_weight) if "pseudo" in lab else 0.0
        if a == 0.0:  # supervised warm-up: the student alone takes part, DDP stays in step
            sup_logits = self.student(lab["image"])
            sup = partial_cross_entropy(sup_logits, lab["label"])
            if not w:
                return sup, {"sup": float(sup.detach()), "cons": 0.0, "alpha": 0.0}
            pseudo = pseudo_label_loss(sup_logits, lab["pseudo"], lab["label"])
            return sup + w * pseudo, {"sup": float(sup.detach()), "cons": 0.0, "alpha": 0.0, "pseudo": float(pseudo.detach()), "pseudo_w": w}
        if p.batchnorm == "joint":
            perturbed, target, mask, unl_pseudo = self.perturbed_view_with_pseudo(unl["image"], unl["valid"], step, unl.get("pseudo"))
            logits = self.student(torch.cat([lab["image"], perturbed]))
            sup_logits, unl_logits = logits.split([lab["image"].shape[0], perturbed.shape[0]])
            sup = partial_cross_entropy(sup_logits, lab["label"])
            cons = masked_mean(kl_divergence(target, unl_logits.float().log_softmax(1)), mask)
        else:
            sup = partial_cross_entropy(self.student(lab["image"]), lab["label"])
            cons = self.consistency_loss(unl["image"], unl["valid"], step)
        parts = {"sup": float(sup.detach()), "cons": float(cons.detach()), "alpha": a}
        loss = sup + a * cons
        if w:  # the forest's pseudo-labels on both kinds of window (joint only: problems() says so)
            pseudo = pseudo_label_loss(torch.cat([sup_logits, unl_logits]), torch.cat([lab["pseudo"], unl_pseudo]), torch.cat([lab["label"], torch.full_like(unl_pseudo, 255)]))
            loss = loss + w * pseudo
            parts.update(pseudo=float(pseudo.detach()), pseudo_w=w)
        return loss, parts

    @torch.no_grad()
    def after_optimizer_step(self, step: StepInfo) -> None:
        """teacher <- d * teacher + (1 - d) * student for every float tensor of the state (BN buffers too)."""
        if self.params.teacher != "ema":
            return
        d = ema_decay(self.params.decay, step.step + 1)  # step.step: updates done before this one
        student = self.student.state_dict()
        for name, t in self.teacher.state_dict().items():
            s = student[name]
            if t.is_floating_point():
                t.mul_(d).add_(s.detach(), alpha=1 - d)
            else:
                t.copy_(s)

    def inference_network(self):
        if self.params.teacher == "ema" and self.params.predict_with == "teacher":
            return self.teacher
        return self.student

    def second_opinions(self) -> dict[str, nn.Module]:
        """The student, when the teacher (its running average) is the exported network."""
        if self.params.teacher == "ema" and self.params.predict_with == "teacher":
            return {self.ctx.domain.name: self.student}
        return {}
