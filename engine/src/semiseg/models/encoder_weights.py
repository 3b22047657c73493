"""Pretrained encoder weights from a file the user has: a job stays offline, the weights travel.

A network trained from scratch on 1 % scribbles learns its low-level filters from a few
thousand pixels; an encoder pretrained elsewhere (ImageNet, or the encoder of a SemiSeg model
trained on another area) brings them along. smp fetches its pretrained weights from a hub at
run time, which a job never does (models/network.py), so the weights come as a file instead:
`semiseg weights ENCODER --out FILE.safetensors` writes one on a machine with internet, and
`model.encoder_weights: FILE` reads it wherever the job runs.

A file holds the encoder's tensors under smp's names, in safetensors (or a PyTorch state dict,
read with weights_only, so loading runs no code). A whole smp model's state dict (a SemiSeg
package's model.safetensors) is accepted too: its `encoder.*` tensors are the encoder's.
"""

from __future__ import annotations

import pickle  # nosec B403 - only pickle.UnpicklingError is caught; torch.load runs with weights_only=True
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from semiseg.errors import UserError, first_line
from semiseg.io.atomic import atomic_path
from semiseg.models.blend import split_tensors

def read_encoder_file(path: Path) -> dict[str, torch.Tensor]:
    """The encoder's tensors of a weights file, by smp's encoder names."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found (model.encoder_weights names a .safetensors, .pt or .pth file of encoder weights)")
    try:
        if path.suffix == ".safetensors":
            tensors = load_file(str(path))
        else:
            tensors = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise UserError(f"{path}: cannot be read as weights ({first_line(exc)})") from None
    if not isinstance(tensors, dict) or not tensors or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        raise UserError(f"{path}: not a state dict (expected a mapping of tensor names to tensors)")
    network = split_tensors(tensors, "network") or tensors  # a blended package's network
    return split_tensors(network, "encoder") or network


def adapt_first_convolution(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Pretrained RGB filters for `in_channels` bands, by smp's rule for its own pretrained
    weights: one band reads the sum of the three filters; more bands repeat R, G, B in turn,
    scaled by 3 / bands so that a pixel's response keeps its size."""
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    cycle = torch.arange(in_channels) % weight.shape[1]
    return weight[:, cycle] * (weight.shape[1] / in_channels)


def load_encoder_weights(encoder: nn.Module, tensors: dict[str, torch.Tensor], where: Path) -> None:
    """Copy `tensors` into `encoder`, every tensor of it; filters pretrained on another band
    count (3, for RGB weights) are adapted to the encoder's own first convolution."""
    own = encoder.state_dict()
    fitted = dict(tensors)
    for name, value in tensors.items():
        mine = own.get(name)
        if mine is not None and value.dim() == 4 and mine.dim() == 4 and value.shape[1] != mine.shape[1] \
                and value.shape[0] == mine.shape[0] and value.shape[2:] == mine.shape[2:]:
            fitted[name] = adapt_first_convolution(value, mine.shape[1])
    missing = sorted(set(own) - set(fitted))
    extra = sorted(set(fitted) - set(own))
    wrong = sorted(k for k in set(own) & set(fitted) if own[k].shape != fitted[k].shape)
    if missing or extra or wrong:
        detail = (f"missing {missing[0]}" if missing else f"unknown tensor {extra[0]}" if extra else
                  f"{wrong[0]} is {tuple(fitted[wrong[0]].shape)}, the encoder's {tuple(own[wrong[0]].shape)}")
        raise UserError(f"{where}: its tensors do not fit the job's encoder ({detail}; "
                        f"{len(missing)} missing, {len(extra)} unknown, {len(wrong)} of another shape)")
    encoder.load_state_dict({k: v.to(own[k].dtype) for k, v in fitted.items()})


def check_encoder_file(encoder: str, path: Path) -> list[str]:
    """The problem lines of weights file `path` for smp encoder `encoder` (empty when it fits),
    found before a training starts (`semiseg validate` included)."""
    import segmentation_models_pytorch as smp

    try:
        load_encoder_weights(smp.encoders.get_encoder(encoder, in_channels=3), read_encoder_file(path), path)
    except UserError as exc:
        return [f"job.json: model.encoder_weights: {p}" for p in exc.problems]
    return []


def fetch_encoder_weights(encoder: str, weights: str, out: Path) -> Path:
    """Download smp's pretrained `weights` of `encoder` (into the hub cache too) and write the
    encoder's tensors to `out` (.safetensors), for `model.encoder_weights` on any machine."""
    import segmentation_models_pytorch as smp

    out = Path(out)
    if out.suffix != ".safetensors":
        raise UserError(f"{out}: the weights file must end in .safetensors")
    if encoder.startswith("tu-") or encoder not in smp.encoders.encoders:
        raise UserError(f"{encoder}: not an smp encoder with named pretrained weights (e.g. resnet18, resnet34, efficientnet-b0)")
    known = list(smp.encoders.encoders[encoder]["pretrained_settings"])
    if weights not in known:
        raise UserError(f"{encoder}: no pretrained weights named {weights!r} (known: {', '.join(known) or 'none'})")
    try:
        network = smp.encoders.get_encoder(encoder, in_channels=3, weights=weights)
    except Exception as exc:  # the hub's errors are many (no connection, offline mode, proxy): all are one line
        raise UserError(f"{encoder}/{weights}: cannot be downloaded ({first_line(exc)}); run `semiseg weights` on a "
                        "machine with internet and copy the file") from None
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    with atomic_path(out) as partial:
        save_file(state, str(partial), metadata={"encoder": encoder, "weights": weights})
    return out
