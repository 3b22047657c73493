"""Partial cross-entropy plus a gated CRF loss on every pixel of the step's windows.

The labelled windows carry the scribbles; the CRF term spreads them over the unlabelled pixels
of those windows and of the unlabeled windows (one pass through the network for both, so they
share batch statistics): L = CE(x_l, y) + w(t) * gated_crf(x_l and x_u).
"""

from __future__ import annotations

import torch
from pydantic import Field

from semiseg.train.methods.base import Method, MethodContext, MethodParams, StepInfo
from semiseg.train.methods.pairwise import gated_crf_loss
from semiseg.train.methods.ramps import unsupervised_weight
from semiseg.train.methods.supervised import partial_cross_entropy


class CRFParams(MethodParams):
    weight: float = Field(default=0.1, ge=0)
    radius: int = Field(default=5, ge=1, le=16)
    sigma_xy: float = Field(default=5.0, gt=0)
    sigma_image: float = Field(default=0.5, gt=0)
    downsample: int = Field(default=2, ge=1, le=8)
    warmup: float = Field(default=0.1, ge=0, le=1)
    rampup: float = Field(default=0.3, ge=0, le=1)
    unlabeled: bool = True  # also on the unlabeled windows (one joint pass); false: labelled windows only


class CRF(Method):
    Params = CRFParams
    uses_unlabeled = True

    def __init__(self, ctx: MethodContext, params: CRFParams):
        super().__init__(ctx, params)
        self.network = ctx.build_network(ctx.num_classes)

    def training_loss(self, batch: dict, step: StepInfo):
        p: CRFParams = self.params
        lab, unl = batch["labeled"], batch["unlabeled"]
        w = unsupervised_weight(step.progress, p.weight, p.warmup, p.rampup)
        use_unl = p.unlabeled and w > 0
        image = torch.cat([lab["image"], unl["image"]]) if use_unl else lab["image"]
        valid = torch.cat([lab["valid"], unl["valid"]]) if use_unl else lab["valid"]
        logits = self.network(image)
        sup = partial_cross_entropy(logits[: lab["image"].shape[0]], lab["label"])
        if w == 0.0:
            return sup, {"sup": float(sup.detach()), "crf": 0.0, "w": 0.0}
        crf = gated_crf_loss(logits.float().softmax(1), image, valid.bool(), p.radius, p.sigma_xy, p.sigma_image, p.downsample)
        return sup + w * crf, {"sup": float(sup.detach()), "crf": float(crf.detach()), "w": w}

    def inference_network(self):
        return self.network
