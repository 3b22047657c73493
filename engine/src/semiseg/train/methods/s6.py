"""S6: segmentation constrained by reconstruction (Soliman, Lehman, AlRegib).

One encoder, two decoders: the segmentation decoder sees the labelled windows only (CE),
the reconstruction decoder sees labelled and unlabeled windows (MSE to the input). Each
decoder is its own smp decoder, so each keeps its own BatchNorm statistics. The paper's
network is DeepLabV3+ with ResNet-18: job.json model.arch "deeplabv3plus", encoder "resnet18";
any other smp architecture gets the same two-decoder treatment.
"""

from __future__ import annotations

import torch
from pydantic import Field

from semiseg.train.methods.base import KEY, Method, MethodContext, MethodParams, StepInfo
from semiseg.train.methods.heads import decode, decoder_branch, take
from semiseg.train.methods.selfsup import reconstruction_loss
from semiseg.train.methods.losses import partial_cross_entropy


class S6Params(MethodParams):
    weight: float = Field(default=1.0, ge=0, json_schema_extra=KEY,  # weight of the reconstruction MSE
                          description="weight of the reconstruction decoder's loss: higher, the unlabelled rasters count more")


class S6(Method):
    Params = S6Params
    uses_unlabeled = True
    default_arch = "deeplabv3plus"  # the paper's network

    def __init__(self, ctx: MethodContext, params: S6Params):
        super().__init__(ctx, params)
        self.network = ctx.network(ctx.num_classes)
        self.reconstruction = decoder_branch(ctx, ctx.in_channels)

    def training_loss(self, batch: dict, step: StepInfo):
        lab, unl = batch["labeled"], batch["unlabeled"]
        n = lab["image"].shape[0]
        x = torch.cat([lab["image"], unl["image"]])
        valid = torch.cat([lab["valid"], unl["valid"]]).bool()
        features = self.network.encoder(x)
        sup = partial_cross_entropy(decode(self.network, take(features, slice(0, n))), lab["label"])
        rec = reconstruction_loss(x, self.reconstruction(features), valid, "l2")
        loss = sup + self.params.weight * rec
        return loss, {"sup": float(sup.detach()), "rec": float(rec.detach())}

    def inference_network(self):
        return self.network
