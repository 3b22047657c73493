"""USSS: universal semi-supervised segmentation across domains (Kalluri et al., ICCV 2019).

Several domains (label spaces) share one encoder-decoder; each has its own segmentation head
(and its own input stem when its band count differs). A shared embedding branch maps decoder
features to unit vectors; each class of each domain has a prototype, the running mean of the
embeddings of its labelled pixels. On unlabeled pixels, an entropy module makes embeddings
decide between their own domain's prototypes (within) and between the other domains'
prototypes (cross), aligning the domains in one feature space:

    L = sum_d CE_d + alpha * L_cross + beta * L_within

With a single domain only the within term exists.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

from semiseg.data.labels import IGNORE_INDEX
from semiseg.train.methods.base import KEY, Method, MethodContext, MethodParams, StepInfo
from semiseg.train.methods.losses import masked_mean, partial_cross_entropy
from semiseg.train.methods.ramps import unsupervised_weight
from semiseg.train.methods.sharing import domain_key, share_layers


class USSSParams(MethodParams):
    em_dim: int = Field(default=100, ge=2,  # embedding size (reference default)
                        description="size of the pixel embedding compared with the class prototypes")
    alpha: float = Field(default=0.1, ge=0, json_schema_extra=KEY,  # cross-domain entropy weight
                         description="weight of the cross-domain entropy on unlabelled pixels: higher, the other "
                                     "domains' classes shape this one's more")
    beta: float = Field(default=0.1, ge=0, json_schema_extra=KEY,  # within-domain entropy weight
                        description="weight of the within-domain entropy on unlabelled pixels: higher, surer "
                                    "(lower-entropy) predictions on the unlabelled rasters")
    temperature: float = Field(default=1.0, gt=0,  # T of the cross-domain similarities
                               description="temperature of the cross-domain similarities: higher, softer matches")
    scale: float = Field(default=10.0, gt=0,  # similarity = scale * cosine, so softmax can be confident
                         description="similarity = scale x cosine to a prototype: higher, sharper class matches")
    momentum: float = Field(default=0.9, ge=0, lt=1,  # running mean of the prototypes
                            description="momentum of the class prototypes' running mean: higher, slower-moving prototypes")
    warmup: float = Field(default=0.1, ge=0, le=1, description="supervised-only share of the run at its start: higher, the unlabelled loss starts later")  # supervised-only share of the run
    rampup: float = Field(default=0.3, ge=0, le=1, description="share of the run over which the unlabelled loss's weight ramps up to its full value after the warm-up: higher, a gentler start")


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel entropy of softmax over dim 1: (B, K, H, W) -> (B, H, W)."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(1)


class USSS(Method):
    Params = USSSParams
    uses_unlabeled = True
    supports_domains = True
    needs_domains = True  # with one domain only the within-domain entropy term is left

    def __init__(self, ctx: MethodContext, params: USSSParams):
        super().__init__(ctx, params)
        names = [d.name for d in ctx.domains]
        nets = [ctx.build_network(d.in_channels, len(d.class_names)) for d in ctx.domains]
        for net in nets[1:]:
            share_layers(nets[0], net, only=("encoder", "decoder"))
        self.names = names
        self.networks = nn.ModuleDict({domain_key(n): net for n, net in zip(names, nets)})
        features = nets[0].segmentation_head[0].in_channels
        self.embedding = nn.Conv2d(features, params.em_dim, kernel_size=1)
        for name, net in zip(names, nets):
            classes = net.segmentation_head[0].out_channels
            self.register_buffer(f"prototypes_{name}", torch.zeros(classes, params.em_dim))
            self.register_buffer(f"seen_{name}", torch.zeros(classes, dtype=torch.bool))

    def prototypes(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"prototypes_{name}"), getattr(self, f"seen_{name}")

    def _forward(self, name: str, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits and unit embeddings at input resolution."""
        net = self.network_of(name)
        decoded = net.decoder(net.encoder(image))
        logits = net.segmentation_head(decoded)
        emb = F.interpolate(self.embedding(decoded), size=image.shape[-2:], mode="bilinear", align_corners=False)
        return logits, F.normalize(emb, dim=1)

    @torch.no_grad()
    def _update_prototypes(self, name: str, emb: torch.Tensor, label: torch.Tensor) -> None:
        protos, seen = self.prototypes(name)
        flat_emb = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1])
        flat_label = label.reshape(-1)
        for c in range(protos.shape[0]):
            picked = flat_emb[flat_label == c]
            if len(picked) == 0:
                continue
            mean = F.normalize(picked.mean(0), dim=0)
            m = self.params.momentum if seen[c] else 0.0
            protos[c] = F.normalize(m * protos[c] + (1 - m) * mean, dim=0)
            seen[c] = True

    def _similarity(self, emb: torch.Tensor, name: str) -> torch.Tensor | None:
        protos, seen = self.prototypes(name)
        if not seen.any():
            return None
        return self.params.scale * torch.einsum("bdhw,kd->bkhw", emb, protos[seen])

    def training_loss(self, batch: dict, step: StepInfo):
        sup = torch.zeros((), device=self._device())
        unlabeled = {}
        for name, part in batch["domains"].items():
            lab = part["labeled"]
            logits, emb = self._forward(name, lab["image"])
            sup = sup + partial_cross_entropy(logits, lab["label"])
            self._update_prototypes(name, emb.detach(), lab["label"].masked_fill(~lab["valid"].bool(), IGNORE_INDEX))
            unlabeled[name] = (self._forward(name, part["unlabeled"]["image"]), part["unlabeled"]["valid"].bool())

        within = cross = sup * 0.0  # keep a graph even when no prototype exists yet
        for name, ((_, emb), valid) in unlabeled.items():
            own = self._similarity(emb, name)
            if own is not None:
                within = within + masked_mean(entropy(own), valid)
            for other in self.names:
                sim = self._similarity(emb, other) if other != name else None
                if sim is not None:
                    cross = cross + masked_mean(entropy(sim / self.params.temperature), valid)
        ramp = unsupervised_weight(step.progress, 1.0, self.params.warmup, self.params.rampup)
        loss = sup + ramp * (self.params.alpha * cross + self.params.beta * within)
        return loss, {"sup": float(sup.detach()), "within": float(within.detach()), "cross": float(cross.detach()), "w_u": ramp}

    def _device(self) -> torch.device:
        return self.embedding.weight.device

    def network_of(self, domain: str) -> nn.Module:
        return self.networks[domain_key(domain)]

    def inference_network(self) -> nn.Module:
        return self.network_of(self.names[0])

    def inference_networks(self) -> dict[str, nn.Module]:
        return {name: self.network_of(name) for name in self.names}
