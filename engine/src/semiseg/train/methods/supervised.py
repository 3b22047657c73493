"""Supervised baseline: partial cross-entropy on the labelled pixels only."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semiseg.data.labels import IGNORE_INDEX
from semiseg.train.methods.base import Method, MethodContext, MethodParams, StepInfo


def partial_cross_entropy(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """CE over labelled pixels; 0 (with a graph) when a batch has none, so DDP ranks stay in step."""
    if not (label != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, label, ignore_index=IGNORE_INDEX)


class Supervised(Method):
    def __init__(self, ctx: MethodContext, params: MethodParams):
        super().__init__(ctx, params)
        self.network = ctx.build_network(ctx.num_classes)

    def training_loss(self, batch: dict, step: StepInfo):
        labeled = batch["labeled"]
        loss = partial_cross_entropy(self.network(labeled["image"]), labeled["label"])
        return loss, {"sup": float(loss.detach())}

    def inference_network(self):
        return self.network
