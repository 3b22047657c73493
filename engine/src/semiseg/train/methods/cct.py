"""CCT, cross-consistency training (Ouali et al.).

Labelled: CE (or ABCE) of the main decoder. Unlabeled: the main decoder's prediction on the
clean encoder features is the target (no gradient, so the main decoder learns from labels
only); each auxiliary decoder sees perturbed features and is pulled towards that target,
which trains the shared encoder to be robust to the perturbations.
L = L_sup + w(t) * mean_k d(aux_k(perturb_k(z_u)), target).

Several domains (job.json `domains`, label spaces with their own classes): one encoder shared
by all, and per domain a main decoder, auxiliary decoders and consistency on that domain's
unlabeled rasters; the losses of the domains add up.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from pydantic import BaseModel, ConfigDict, Field

from semiseg.train.methods.base import KEY, Method, MethodContext, MethodParams, StepInfo
from semiseg.train.methods.heads import decode, decoder_branch
from semiseg.train.methods.losses import (
    Distance,
    abce_threshold,
    annealed_bootstrapped_ce,
    confident,
    consistency_distance,
    masked_mean,
    partial_cross_entropy,
)
from semiseg.train.methods.perturbations import PERTURBATIONS, Cue
from semiseg.train.methods.ramps import unsupervised_weight
from semiseg.train.methods.sharing import domain_key, share_layers


class DecoderCounts(BaseModel):
    """Auxiliary decoders per perturbation (the reference uses 30 in all; see docs/methods.md)."""

    model_config = ConfigDict(extra="forbid")
    vat: int = Field(default=1, ge=0, description="decoders fed adversarially perturbed features (I-VAT); 0: none")
    dropout: int = Field(default=1, ge=0, description="decoders fed features with channels dropped; 0: none")
    cutout: int = Field(default=1, ge=0, description="decoders fed features with a box erased in each object; 0: none")
    context_mask: int = Field(default=1, ge=0, description="decoders fed only the context (background classes) features; 0: none")
    object_mask: int = Field(default=1, ge=0, description="decoders fed only the object (non-background) features; 0: none")
    feature_drop: int = Field(default=1, ge=0, description="decoders fed features with the most active regions dropped; 0: none")
    feature_noise: int = Field(default=1, ge=0, description="decoders fed features with uniform noise; 0: none")


class CCTParams(MethodParams):
    decoders: DecoderCounts = Field(default=DecoderCounts(),
                                    description="auxiliary decoders per feature perturbation: more, more consistency "
                                                "targets, slower steps")
    weight: float = Field(default=30.0, ge=0, json_schema_extra=KEY,  # w_u at the end of the ramp-up
                          description="weight of the consistency loss on unlabelled windows: higher, the unlabelled "
                                      "rasters count more against the scribbles")
    warmup: float = Field(default=0.1, ge=0, le=1, description="supervised-only share of the run at its start: higher, the unlabelled loss starts later")  # supervised-only share of the run
    rampup: float = Field(default=0.3, ge=0, le=1, description="share of the run over which the unlabelled loss's weight ramps up to its full value after the warm-up: higher, a gentler start")  # sigmoid ramp share, after the warm-up
    distance: Distance = Field(default="mse", description="how the auxiliary decoders' maps are compared with the main one's: mse, kl or js")
    confidence: float | None = Field(  # mask targets below it; null: off
        default=0.5, ge=0, le=1, json_schema_extra=KEY,
        description="main-decoder pixels whose top probability is below this teach nothing: higher, fewer but surer "
                    "targets; off: every pixel teaches")
    abce: bool = Field(default=False, description="annealed bootstrapped cross-entropy: learn only from the labelled "
                                                  "pixels the network still gets wrong, a threshold rising over the run")
    background: list[str] = Field(default=[],  # class names that are context for Obj-Msk / Con-Msk / G-Cutout
                                  description="classes that are context (background) for the object/context masks; "
                                              "none: those decoders see no mask")

    def problems(self, class_names: list[str]) -> list[str]:
        unknown = [name for name in self.background if name not in class_names]
        return [f"job.json: method.background: unknown class names {unknown} (classes: {class_names})"] if unknown else []


class AuxiliaryDecoder(nn.Module):
    """One perturbation and its own decoder + head."""

    def __init__(self, kind: str, branch: nn.Module):
        super().__init__()
        self.kind = kind
        self.perturbation = PERTURBATIONS[kind]()
        self.branch = branch

    def forward(self, features: list[torch.Tensor], cue: Cue) -> torch.Tensor:
        return self.branch(self.perturbation(features, cue, self.branch))


class DomainBranch(nn.Module):
    """One label space: its network (main decoder and head) and its auxiliary decoders."""

    def __init__(self, network: nn.Module, aux_decoders: list[AuxiliaryDecoder], background: list[int]):
        super().__init__()
        self.network = network
        self.aux_decoders = nn.ModuleList(aux_decoders)
        self.register_buffer("background", torch.tensor(background, dtype=torch.long), persistent=False)

    def unsupervised_loss(self, image: torch.Tensor, valid: torch.Tensor, step: StepInfo, p: CCTParams) -> torch.Tensor:
        """Mean over auxiliary decoders of the distance to the main decoder's detached prediction."""
        features = self.network.encoder(image)
        with torch.no_grad():
            target = decode(self.network, [f.detach() for f in features]).float().softmax(1)
        mask = valid.bool() & confident(target, p.confidence)
        cue = Cue(target, self.background, step.generator)
        losses = [masked_mean(consistency_distance(aux(features, cue).float(), target, p.distance), mask) for aux in self.aux_decoders]
        return torch.stack(losses).mean() if losses else image.sum() * 0.0


class CCT(Method):
    Params = CCTParams
    uses_unlabeled = True
    supports_domains = True

    def __init__(self, ctx: MethodContext, params: CCTParams):
        super().__init__(ctx, params)
        self.names = [d.name for d in ctx.domains]
        branches = {}
        for domain in ctx.domains:
            classes = len(domain.class_names)
            network = ctx.build_network(domain.in_channels, classes)
            if branches:  # the encoder is shared (not its BatchNorm, nor its stem when band counts differ)
                share_layers(next(iter(branches.values())).network, network, only=("encoder",))
            background = [domain.class_names.index(n) for n in params.background if n in domain.class_names]
            counts = params.decoders.model_dump()
            if not background:
                # Without background classes there is no context to separate objects from.
                counts["context_mask"] = counts["object_mask"] = 0
            aux = [AuxiliaryDecoder(kind, decoder_branch(ctx, classes)) for kind, count in counts.items() for _ in range(count)]
            branches[domain_key(domain.name)] = DomainBranch(network, aux, background)
        self.branches = nn.ModuleDict(branches)

    def supervised_loss(self, logits: torch.Tensor, label: torch.Tensor, step: StepInfo) -> torch.Tensor:
        if self.params.abce:
            return annealed_bootstrapped_ce(logits, label, abce_threshold(step.progress, logits.shape[1]))
        return partial_cross_entropy(logits, label)

    def training_loss(self, batch: dict, step: StepInfo):
        p: CCTParams = self.params
        w = unsupervised_weight(step.progress, p.weight, p.warmup, p.rampup)
        sup = unsup = 0.0
        for name, part in batch["domains"].items():
            branch = self.branch(name)
            lab, unl = part["labeled"], part["unlabeled"]
            sup = sup + self.supervised_loss(branch.network(lab["image"]), lab["label"], step)
            # Computed during the warm-up too (weight 0): every auxiliary decoder must take part
            # in every step, or DDP waits for gradients that never come.
            unsup = unsup + branch.unsupervised_loss(unl["image"], unl["valid"], step, p)
        return sup + w * unsup, {"sup": float(sup.detach()), "unsup": float(unsup.detach()), "w_u": w}

    def branch(self, domain: str) -> DomainBranch:
        return self.branches[domain_key(domain)]

    def inference_network(self):
        return self.branch(self.names[0]).network

    def inference_networks(self) -> dict[str, nn.Module]:
        return {name: self.branch(name).network for name in self.names}
