"""Segmentation networks built by name from segmentation-models-pytorch."""

from __future__ import annotations

import contextlib
import difflib
from pathlib import Path
from typing import Iterator

import huggingface_hub.constants
import segmentation_models_pytorch as smp
import torch.nn as nn

from semiseg.errors import UserError
from semiseg.models.encoder_weights import load_encoder_weights, read_encoder_file


def architecture_names() -> list[str]:
    return sorted(smp.MODEL_ARCHITECTURES_MAPPING)


def encoder_names() -> list[str]:
    return sorted(smp.encoders.get_encoder_names())


def check_model_names(arch: str, encoder: str, where: str = "job.json") -> list[str]:
    """One problem line per unknown name (empty when both are known)."""
    problems = []
    if arch.lower() not in smp.MODEL_ARCHITECTURES_MAPPING:
        problems.append(f"{where}: model.arch: unknown architecture {arch!r} (known: {', '.join(architecture_names())})")
    if encoder not in encoder_names():
        close = difflib.get_close_matches(encoder, encoder_names(), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "smp's encoder names, e.g. resnet18, resnet34, efficientnet-b0"
        problems.append(f"{where}: model.encoder: unknown encoder {encoder!r} ({hint})")
    return problems


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Pretrained weights come from the local cache only: a job never waits on, or needs, the network."""
    saved = huggingface_hub.constants.HF_HUB_OFFLINE
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        huggingface_hub.constants.HF_HUB_OFFLINE = saved


DEFAULT_ENCODER = "resnet18"  # small enough for a CPU, strong enough for a start


def build_network(arch: str, encoder: str, in_channels: int, classes: int, encoder_weights: str | Path | None = None, where: str = "job.json") -> nn.Module:
    """An smp network; pretrained encoder weights from a file (a Path) or from smp's local cache
    (a name), never downloaded (a clear error instead). `where` names the file that asked for
    it, for the error on an unknown name."""
    problems = check_model_names(arch, encoder, where)
    if problems:
        raise UserError(*problems)
    if isinstance(encoder_weights, Path):
        network = smp.create_model(arch, encoder_name=encoder, encoder_weights=None, in_channels=in_channels, classes=classes)
        load_encoder_weights(network.encoder, read_encoder_file(encoder_weights), encoder_weights)
        return network
    try:
        with _hub_offline():
            return smp.create_model(
                arch, encoder_name=encoder, encoder_weights=encoder_weights, in_channels=in_channels, classes=classes
            )
    except (OSError, ValueError, KeyError, RuntimeError):
        if encoder_weights is None:
            raise
        raise UserError(
            f"model.encoder_weights: pretrained weights {encoder_weights!r} for encoder {encoder!r} are not in the "
            "local cache and are never downloaded during a job; set encoder_weights to null"
        ) from None
