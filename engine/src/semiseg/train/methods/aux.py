"""BerundaNet: one encoder-decoder shared by the segmentation task and a self-supervised task.

L = CE(phi_s(x_l), y) + lambda * L_u(phi_u(x), x), x = labelled and unlabeled windows.
split "late": only the heads differ (the decoder is shared); "early": the self-supervised
task has its own decoder. Jigsaw classifies the permutation from the encoder's deepest
feature, so its split is always at the encoder.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import ConfigDict, Field, model_validator

from semiseg.train.methods.base import KEY, Method, MethodContext, MethodParams, StepInfo
from semiseg.train.methods.heads import decode, decoder_branch, head_only, image_classifier, take
from semiseg.train.methods.selfsup import (
    fill_holes,
    inpainting_loss,
    jigsaw_shuffle,
    max_hamming_permutations,
    mumford_shah_loss,
    reconstruction_loss,
    relaxed_kmeans_loss,
    square_masks,
)
from semiseg.train.methods.losses import partial_cross_entropy

Task = Literal["rec_l1", "rec_l2", "kmeans", "mumford_shah", "inpainting", "jigsaw"]

# Best lambda per task (Castillo-Navarro et al., Table 1).
DEFAULT_LAMBDA: dict[str, float] = {"rec_l1": 0.5, "rec_l2": 5.0, "kmeans": 1.0, "mumford_shah": 1.0, "inpainting": 5.0, "jigsaw": 0.5}
DEFAULT_ALPHA: dict[str, float] = {"kmeans": 1.0, "mumford_shah": 0.1}


class AuxParams(MethodParams):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    task: Task = Field(default="kmeans", json_schema_extra=KEY,
                       description="the unsupervised task learnt on every window: reconstruction (rec_l1, rec_l2), relaxed "
                                   "k-means, Mumford-Shah, inpainting or jigsaw (kmeans: the paper's best)")
    split: Literal["late", "early"] = Field(
        default="late", description="late: one decoder with two heads; early: a separate decoder for the unsupervised task")
    weight: float | None = Field(  # None: the paper's best for the task
        default=None, alias="lambda", ge=0, json_schema_extra=KEY,
        description="weight of the unsupervised loss: higher, the unlabelled rasters count more; auto: the paper's best for the task")
    clusters: int = Field(default=10, ge=2,  # K of kmeans and mumford_shah
                          description="clusters K of kmeans and mumford_shah: more, finer colour groups")
    alpha: float | None = Field(  # kmeans hardness / mumford_shah TV weight
        default=None, ge=0,
        description="kmeans: weight pushing memberships to be hard; mumford_shah: weight of the smoothness (TV) term; auto: per task")
    mask_size: float = Field(default=0.25, gt=0, lt=1,  # inpainting hole side, fraction of the tile (80/320)
                             description="inpainting: side of the hole to fill, a fraction of the window: larger, a harder task")
    permutations: int = Field(default=100, ge=2, le=1000,  # jigsaw classes
                              description="jigsaw: tile shuffles to tell apart: more, a harder task")

    @model_validator(mode="after")
    def _split_needs_a_pixel_task(self):
        if self.task == "jigsaw" and "split" in self.model_fields_set:
            raise ValueError("split does not apply to task jigsaw (its classifier always reads the encoder); leave it out")
        return self

    @property
    def lam(self) -> float:
        return DEFAULT_LAMBDA[self.task] if self.weight is None else self.weight

    @property
    def alpha_value(self) -> float:
        return DEFAULT_ALPHA.get(self.task, 0.0) if self.alpha is None else self.alpha


def _unsup_channels(p: AuxParams, in_channels: int) -> int:
    return p.clusters if p.task in ("kmeans", "mumford_shah") else in_channels


class Aux(Method):
    Params = AuxParams
    uses_unlabeled = True

    def __init__(self, ctx: MethodContext, params: AuxParams):
        super().__init__(ctx, params)
        self.network = ctx.network(ctx.num_classes)
        if params.task == "jigsaw":
            self.unsup_head = image_classifier(self.network, params.permutations)
            self.register_buffer("permutations", max_hamming_permutations(params.permutations))
        elif params.split == "late":
            self.unsup_head = head_only(ctx, _unsup_channels(params, ctx.in_channels))
        else:
            self.unsup_head = decoder_branch(ctx, _unsup_channels(params, ctx.in_channels))

    def _unsup_output(self, features: list[torch.Tensor], decoded: torch.Tensor | None = None) -> torch.Tensor:
        if self.params.split == "early":
            return self.unsup_head(features)
        return self.unsup_head(self.network.decoder(features) if decoded is None else decoded)

    def training_loss(self, batch: dict, step: StepInfo):
        p: AuxParams = self.params
        lab, unl = batch["labeled"], batch["unlabeled"]
        n = lab["image"].shape[0]
        x = torch.cat([lab["image"], unl["image"]])
        valid = torch.cat([lab["valid"], unl["valid"]]).bool()

        if p.task in ("jigsaw", "inpainting"):
            # The self-supervised input differs from the image: a separate pass through the shared parts.
            sup = partial_cross_entropy(self.network(lab["image"]), lab["label"])
            unsup = self._jigsaw(x, step) if p.task == "jigsaw" else self._inpainting(x, valid, step)
        else:
            features = self.network.encoder(x)
            if p.split == "late":
                decoded = self.network.decoder(features)
                logits = self.network.segmentation_head(decoded[:n])
                out = self._unsup_output(features, decoded)
            else:
                logits = decode(self.network, take(features, slice(0, n)))
                out = self._unsup_output(features)
            sup = partial_cross_entropy(logits, lab["label"])
            unsup = self._dense_task(x, out, valid)
        loss = sup + p.lam * unsup
        return loss, {"sup": float(sup.detach()), "unsup": float(unsup.detach())}

    def _dense_task(self, x: torch.Tensor, out: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        p: AuxParams = self.params
        if p.task == "rec_l1":
            return reconstruction_loss(x, out, valid, "l1")
        if p.task == "rec_l2":
            return reconstruction_loss(x, out, valid, "l2")
        memberships = out.float().softmax(1)
        if p.task == "kmeans":
            return relaxed_kmeans_loss(x, memberships, valid, p.alpha_value)
        return mumford_shah_loss(x, memberships, valid, p.alpha_value)

    def _inpainting(self, x: torch.Tensor, valid: torch.Tensor, step: StepInfo) -> torch.Tensor:
        b, _, h, w = x.shape
        side = max(1, round(self.params.mask_size * min(h, w)))
        holes = square_masks(b, h, w, side, step.generator).to(x.device)
        out = self._unsup_output(self.network.encoder(fill_holes(x, holes, valid)))
        return inpainting_loss(x, out, holes, valid)

    def _jigsaw(self, x: torch.Tensor, step: StepInfo) -> torch.Tensor:
        shuffled, target = jigsaw_shuffle(x, self.permutations, step.generator)
        logits = self.unsup_head(self.network.encoder(shuffled)[-1])
        return F.cross_entropy(logits.float(), target.to(logits.device))

    def inference_network(self):
        return self.network
