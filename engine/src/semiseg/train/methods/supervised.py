"""Supervised baseline: partial cross-entropy on the labelled pixels only."""

from __future__ import annotations

from semiseg.train.methods.base import Method, MethodContext, StepInfo
from semiseg.train.methods.losses import partial_cross_entropy
from semiseg.train.methods.pseudo import PseudoLabelParams, pseudo_label_loss, pseudo_weight


class Supervised(Method):
    Params = PseudoLabelParams

    def __init__(self, ctx: MethodContext, params: PseudoLabelParams):
        super().__init__(ctx, params)
        self.network = ctx.network(ctx.num_classes)

    def training_loss(self, batch: dict, step: StepInfo):
        labeled = batch["labeled"]
        logits = self.network(labeled["image"])
        loss = partial_cross_entropy(logits, labeled["label"])
        parts = {"sup": float(loss.detach())}
        if "pseudo" in labeled:
            w = pseudo_weight(step.progress, self.params.pseudo_weight)
            pseudo = pseudo_label_loss(logits, labeled["pseudo"], labeled["label"])
            loss = loss + w * pseudo
            parts.update(pseudo=float(pseudo.detach()), pseudo_w=w)
        return loss, parts

    def inference_network(self):
        return self.network
