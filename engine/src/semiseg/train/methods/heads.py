"""Extra decoders and heads composed from smp parts, over the encoder features of the job's network.

An smp network is encoder + decoder + segmentation_head; methods that need a second path
take the decoder and/or head of another network of the same architecture, so the
inference network stays a plain smp network that model.json can rebuild.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from segmentation_models_pytorch.base import ClassificationHead

from semiseg.train.methods.base import MethodContext

Features = list[torch.Tensor]


def decoder_branch(ctx: MethodContext, out_channels: int) -> nn.Sequential:
    """A fresh decoder + head (own weights, own normalisation statistics) with `out_channels` outputs."""
    donor = ctx.network(out_channels)
    return nn.Sequential(donor.decoder, donor.segmentation_head)


def head_only(ctx: MethodContext, out_channels: int) -> nn.Module:
    """A fresh segmentation head for the job's decoder output (the 'late' split)."""
    return ctx.network(out_channels).segmentation_head


def image_classifier(network: nn.Module, classes: int) -> nn.Module:
    """Global pooling of the deepest encoder feature -> `classes` logits."""
    return ClassificationHead(in_channels=network.encoder.out_channels[-1], classes=classes, dropout=None)  # no hidden global-RNG draws


def decode(network: nn.Module, features: Features) -> torch.Tensor:
    """The network's own decoder and head on given encoder features."""
    return network.segmentation_head(network.decoder(features))


def take(features: Features, rows: slice) -> Features:
    """The same samples from every feature level."""
    return [f[rows] for f in features]
