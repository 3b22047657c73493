"""Which runtime computes a predictor's network: PyTorch, or onnxruntime on the CPU.

On a CPU, onnxruntime runs a batch of U-Net/ResNet-18 windows 1.2-1.3x faster than PyTorch's
channels-last oneDNN path, with the same class on 99.9999 % of the pixels; a whole map (reading,
blending and writing included) takes 5-7 % less (docs/benchmarks.md, issue 39), so
`runtime: auto` (InferenceSpec.runtime, the default) gives it the network of every CPU
prediction computed in float32. The network is exported into memory once per predictor (about a
second for U-Net/ResNet-18) and never written: the package stays its safetensors, the one file
that is loaded. What has no ONNX form stays in PyTorch: a pixel forest (its trees; a blend's
forest is computed per pixel anyway, predict/pixelwise.py), bfloat16, and any device but the CPU.
A network that reads a forest's map (forest_context) has its network exported, the forest kept.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
import torch.nn as nn

from semiseg.errors import UserError, first_line
from semiseg.models.context import ForestContext

RUNTIMES = ("auto", "torch", "onnxruntime")
_OPSET = 17
_EXAMPLE_SIZE = 64  # the traced window's side: a multiple of every smp encoder's stride (32)


def chosen_runtime(runtime: str, device: torch.device, bf16: bool, network: nn.Module | None) -> str:
    """"torch" or "onnxruntime" for `network` (the predictor's windowed part) on `device`;
    "onnxruntime" asked for where it cannot run is one line (UserError)."""
    if runtime not in RUNTIMES:
        raise UserError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if getattr(network, "runs_in_onnxruntime", False):  # an exported .onnx file's graph (predict/onnx_model.py)
        return "onnxruntime"
    why_not = _why_not_onnxruntime(device, bf16, network)
    if runtime == "onnxruntime" and why_not:
        raise UserError(f"runtime onnxruntime: {why_not}; use runtime torch or auto")
    return "torch" if runtime == "torch" or why_not else "onnxruntime"


def _why_not_onnxruntime(device: torch.device, bf16: bool, network: nn.Module | None) -> str:
    if network is None:
        return "the model is a pixel forest alone, which has no network"
    if device.type != "cpu":
        return f"it runs on the CPU here, the prediction on {device.type}"
    if bf16:
        return "it computes in float32, the prediction was asked for in bfloat16"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed in the engine's Python"
    return ""


def exported(runtime: str, chosen: str, networks: list[nn.Module | None]) -> tuple[str, list[nn.Module | None]]:
    """(the runtime that computes them, the networks) once `chosen` (chosen_runtime's answer to
    `runtime`) is applied: a network that does not export (an smp architecture with an operator
    the exporter lacks) stays in PyTorch under "auto", and is one line under "onnxruntime"."""
    if chosen != "onnxruntime":
        return chosen, networks
    try:
        return chosen, [on_onnxruntime(n) if n is not None else None for n in networks]
    except Exception as exc:  # the exporter's and onnxruntime's errors have no common type
        if runtime == "onnxruntime":
            raise UserError(f"runtime onnxruntime: the network does not export to ONNX ({first_line(exc)}); use runtime torch or auto") from None
        return "torch", networks


def on_onnxruntime(network: nn.Module) -> nn.Module:
    """`network` computed by onnxruntime: the same (N, C, H, W) -> (N, classes, H, W) logits."""
    if getattr(network, "runs_in_onnxruntime", False):
        return network
    if isinstance(network, ForestContext):  # the network reads the forest's probabilities: only it exports
        return ForestContext(OrtNetwork(network.network), network.forest)
    return OrtNetwork(network)


class OrtNetwork(nn.Module):
    """A network exported into memory and run by an onnxruntime CPU session."""

    runs_in_onnxruntime = True

    def __init__(self, network: nn.Module):
        import onnxruntime as ort

        super().__init__()
        network = network.float().cpu().eval()
        example = torch.zeros(1, _input_channels(network), _EXAMPLE_SIZE, _EXAMPLE_SIZE)
        graph = io.BytesIO()
        with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice: the engine's own choice (onnx_export.py)
            warnings.simplefilter("ignore")
            torch.onnx.export(network, (example,), graph, input_names=["image"], output_names=["logits"], opset_version=_OPSET, dynamo=False,
                              dynamic_axes={name: {0: "batch", 2: "height", 3: "width"} for name in ("image", "logits")})
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.inter_op_num_threads = 1
        # Its threads sleep between windows instead of spinning: the pixel forest's threads run
        # in between, on the same cores (predict/pixelwise.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No memory arena: with it, a batch of 8 windows of 512 px peaks 0.9 GB higher for 15 %
        # more speed (1.74 against 1.97-2.09 s; PyTorch channels-last 2.41-2.55 s at 1.7 GB).
        options.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        window = np.ascontiguousarray(images.detach().float().cpu().numpy())
        (logits,) = self.session.run(None, {"image": window})
        return torch.from_numpy(logits)


def _input_channels(network: nn.Module) -> int:
    """The channels the network's first convolution reads."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    raise UserError("runtime onnxruntime: the network has no convolution to read its input channels from; use runtime torch")
