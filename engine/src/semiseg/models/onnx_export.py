"""A model package as one ONNX file that Deepness (the QGIS ONNX plugin) and onnxruntime run.

The graph holds everything between the raster's values and the class probabilities, so no
client needs SemiSeg's normalization: input (N, bands, H, W) float32 = the raster's values of
the card's bands divided by INPUT_SCALE (Deepness divides every band by 255 before a model sees
it), H = W = the card's tile size, N dynamic; inside, x * INPUT_SCALE, the per-band
standardization of model.json, the network and a softmax over classes; output (N, classes, H, W)
probabilities. Deepness then standardizes with `standardization_mean` / `standardization_std`,
which are therefore 0 and 1 here (the graph already does it). Nodata cannot be told apart
inside a graph: clients mask it themselves (SemiSeg's own predictor does).

Metadata (every value JSON-encoded, as Deepness parses each with json.loads): `model_type`
"Segmentor", `class_names` {"0": name, ...}, `resolution` (cm per pixel of the training
rasters, when known), `tile_size` and `tiles_size` (Deepness's docs and its loader spell it
differently), `tiles_overlap` (percent), `standardization_mean` / `standardization_std`,
`seg_thresh`, `seg_small_segment`, and `semiseg_model`: SemiSeg's model.json.

`seg_thresh` 0 and `seg_small_segment` 0 are what make Deepness's map SemiSeg's map (Deepness
0.6.5, after its user presses "Load default parameters"): with a threshold t > 0 it zeroes every
probability under t before its argmax, so a pixel whose best class is under t goes to the first
class (with 5 classes most of a scene's pixels), and without the key its dock keeps its own 0.5;
with a small-segment size s > 0 (9 without the key) it runs an s-px median filter over the class
map, which SemiSeg's `predict` does not. 0 unticks both boxes in its dock.

Only a network exports: a pixel forest's trees (and models with one inside) do not run in an
ONNX graph that Deepness loads, and are refused with one line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn as nn

from semiseg.errors import UserError
from semiseg.io.atomic import atomic_path
from semiseg.models.blend import ForestBlend
from semiseg.models.context import ForestContext
from semiseg.models.forest import PixelForest
from semiseg.models.package import ModelCard, load_package

INPUT_SCALE = 255.0
OPSET = 17
TILES_OVERLAP_PERCENT = 50  # SemiSeg's own default overlap (inference.overlap 0.5)
# SemiSeg's class map is the argmax of the probabilities, nothing cut and nothing smoothed: 0 turns
# Deepness's probability threshold and its small-segment median filter off (module docstring).
SEG_THRESH = 0.0
SEG_SMALL_SEGMENT = 0


class DeployableNetwork(nn.Module):
    """raw / INPUT_SCALE -> standardized bands -> network -> class probabilities."""

    def __init__(self, network: nn.Module, card: ModelCard):
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(card.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(card.std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.network((x * INPUT_SCALE - self.mean) / self.std), dim=1)


def export_onnx(model_dir: Path, out: Path) -> tuple[Path, str]:
    """Write the package at `model_dir` as OUT (.onnx), whole or not at all; returns the file and
    a note for the user ('' if none).

    A blend (the default method's gate) exports its network alone, and says so: the forest's
    trees have no ONNX form, and Deepness or another tool is better served by the network than
    by nothing. A forest alone, or a network that reads a forest's map, has nothing to export."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise UserError(f"{out}: expected a .onnx path")
    card, model = load_package(model_dir)
    note = ""
    if isinstance(model, ForestBlend):
        note = (f"{model_dir} blends its network with a pixel forest (weight {card.forest_blend:g}); the forest's "
                "trees do not export, so the ONNX file holds the network alone and its map differs from the package's")
        alone, blended = (card.metrics.get("network_alone") or {}).get("miou"), card.metrics.get("miou")
        if alone is not None and blended is not None:  # recorded at export since issue 41
            note += f" (validation mIoU: the network alone {alone:.3f}, the package {blended:.3f})"
        card, model = replace(card, forest_blend=0.0), model.network
    if isinstance(model, (PixelForest, ForestContext)):
        raise UserError(f"{model_dir}: holds a pixel forest, whose trees do not export to ONNX; export a network trained without one")
    deployable = DeployableNetwork(model.float().cpu().eval(), card).eval()
    example = torch.zeros(1, card.in_channels, card.tile_size, card.tile_size)
    with atomic_path(out) as tmp:
        # The TorchScript exporter: torch.export's (dynamo=True) gives the same graph here but
        # prints its progress on stdout, which a client reading the engine's output must not get.
        torch.onnx.export(
            deployable, (example,), str(tmp), input_names=["image"], output_names=["probabilities"],
            dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=OPSET, dynamo=False,
        )
        _add_metadata(tmp, card)
    return out, note


def deepness_metadata(card: ModelCard) -> dict[str, str]:
    """The metadata entries of an exported model, each value JSON-encoded (Deepness json.loads
    every value it reads; the keys and why each value: the module docstring)."""
    values = {
        "model_type": "Segmentor",
        "class_names": {str(i): name for i, name in enumerate(card.class_names)},
        "tile_size": card.tile_size,
        "tiles_size": card.tile_size,
        "tiles_overlap": TILES_OVERLAP_PERCENT,
        "standardization_mean": [0.0] * card.in_channels,
        "standardization_std": [1.0] * card.in_channels,
        "seg_thresh": SEG_THRESH,
        "seg_small_segment": SEG_SMALL_SEGMENT,
        "semiseg_model": asdict(card),
    }
    if card.pixel_size_m:
        values["resolution"] = round(card.pixel_size_m * 100, 4)
    return {key: json.dumps(value) for key, value in values.items()}


def _add_metadata(path: Path, card: ModelCard) -> None:
    import onnx

    model = onnx.load(str(path))
    for key, value in deepness_metadata(card).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
