"""An exported ONNX model (models/onnx_export.py) predicting like a package: `semiseg predict MODEL.onnx`.

The file carries SemiSeg's model.json in its `semiseg_model` metadata, so bands, classes,
colours and the window are known without the package; onnxruntime runs the graph on the CPU, or
on CUDA where its GPU build is installed. The predictor hands a network standardized bands, the
graph wants band values / 255: `OnnxNetwork` undoes the one and does the other.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from semiseg.errors import UserError, first_line
from semiseg.models.onnx_export import INPUT_SCALE
from semiseg.models.package import ModelCard, parse_card


def load_onnx_model(path: Path, device: torch.device) -> tuple[ModelCard, nn.Module]:
    import onnx
    import onnxruntime as ort

    path = Path(path)
    try:
        meta = {m.key: m.value for m in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception as exc:  # a truncated or foreign file: protobuf's own words
        raise UserError(f"{path}: not an ONNX model ({first_line(exc)})") from None
    if "semiseg_model" not in meta:
        raise UserError(f"{path}: not exported by SemiSeg (no semiseg_model metadata); `semiseg export --onnx` makes one")
    try:
        raw = json.loads(meta["semiseg_model"])
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: semiseg_model metadata is not JSON ({exc})") from None
    card = parse_card(raw, path)
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return card, OnnxNetwork(ort.InferenceSession(str(path), providers=providers), card)


class OnnxNetwork(nn.Module):
    """Standardized bands in, log class probabilities out (what the predictor's softmax expects)."""

    runs_in_onnxruntime = True  # predict/cpu_runtime.py: nothing to export

    def __init__(self, session, card: ModelCard):
        super().__init__()
        self.session = session
        self.mean = np.asarray(card.mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(card.std, np.float32).reshape(1, -1, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raw = images.detach().float().cpu().numpy() * self.std + self.mean
        (probabilities,) = self.session.run(None, {"image": (raw / INPUT_SCALE).astype(np.float32)})
        return torch.log(torch.from_numpy(probabilities).clamp_min(1e-12)).to(images.device)
