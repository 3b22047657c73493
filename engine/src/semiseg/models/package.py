"""The portable model package: model.safetensors + model.json.

Weights are safetensors, so loading a model never executes code from the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch.nn as nn
from pydantic import TypeAdapter, ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from semiseg import __version__
from semiseg.data.normalization import BandStats
from semiseg.errors import UserError, first_line
from semiseg.io.atomic import permit_like_any_output
from semiseg.models.blend import ForestBlend, split_tensors
from semiseg.models.context import ForestContext
from semiseg.models.forest import FOREST_ARCH, PixelForest
from semiseg.models.network import build_network
from semiseg.models.second_opinion import network_of, student_path, with_network

FORMAT_VERSION = 1


@dataclass
class ModelCard:
    """model.json: everything needed to rebuild the network and use it correctly."""

    class_names: list[str]
    class_colors: list[str]
    bands: list[int]
    mean: list[float]
    std: list[float]
    arch: str
    encoder: str
    in_channels: int
    tile_size: int
    method: dict
    metrics: dict = field(default_factory=dict)
    fingerprint: str = ""
    domain: str = "default"
    forest_blend: float = 0.0  # > 0: the network's probabilities are averaged with a pixel forest's (models/blend.py)
    forest_context: bool = False  # the network also reads a pixel forest's probabilities (models/context.py)
    pixel_size_m: float | None = None  # ground size of a training pixel in metres; None without a projected CRS
    engine_version: str = __version__
    format_version: int = FORMAT_VERSION

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def stats(self) -> BandStats:
        return BandStats(self.mean, self.std)


def save_package(folder: Path, card: ModelCard, network: nn.Module, second: nn.Module | None = None) -> None:
    """`second`: a model of the same kind whose network's disagreement with this one's marks
    where labels are missing (models/second_opinion.py); only its network is kept."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [(weights_file(folder), network)] + ([(student_path(folder), network_of(second))] if second is not None else [])
    for path, module in parts:
        save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(path))
        permit_like_any_output(path)
    (folder / "model.json").write_text(json.dumps(asdict(card), indent=2), encoding="utf-8")


def read_card(folder: Path) -> ModelCard:
    """model.json of a package (checking that its weights are there too), without loading them."""
    folder = Path(folder)
    card_path = folder / "model.json"
    for path in (card_path, weights_file(folder)):
        if not path.is_file():
            raise UserError(f"{path}: file not found (a model folder holds model.json and model.safetensors)")
    try:
        raw = json.loads(card_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{card_path}: not valid JSON ({exc})") from None
    except RecursionError:  # nested thousands deep: no model description is
        raise UserError(f"{card_path}: not a SemiSeg model description: its JSON is nested too deep to read") from None
    return parse_card(raw, card_path)


def parse_card(raw: object, where: Path) -> ModelCard:
    """A model description (model.json's object, or an exported model's copy of it), checked
    field by field and as a whole; `where` names it in the one-line error."""
    if not isinstance(raw, dict):
        raise UserError(f"{where}: not a SemiSeg model description (expected a JSON object)")
    if isinstance(raw.get("format_version"), int) and raw["format_version"] > FORMAT_VERSION:
        raise UserError(f"{where}: made by a newer engine (format {raw['format_version']}); update semiseg")
    unknown = sorted(set(raw) - {f.name for f in fields(ModelCard)})
    if unknown:
        raise UserError(f"{where}: {unknown[0]}: unknown field")
    try:
        card = TypeAdapter(ModelCard).validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise UserError(f"{where}: {field}: {err['msg']}") from None
    problem = _inconsistency(card)
    if problem:
        raise UserError(f"{where}: {problem}")
    return card


def _inconsistency(card: ModelCard) -> str | None:
    """What makes a card's fields disagree with each other (each type is already checked)."""
    if not card.bands or min(card.bands) < 1:
        return f"bands {card.bands}: expected 1-based band indexes, at least one"
    if len(card.bands) != card.in_channels or len(card.mean) != card.in_channels or len(card.std) != card.in_channels:
        return f"bands, mean and std need in_channels ({card.in_channels}) entries each"
    if len(card.class_names) < 2 or len(card.class_colors) != len(card.class_names):
        return "class_names needs at least two classes and class_colors one colour each"
    if card.tile_size < 32 or card.tile_size % 32:
        return f"tile_size {card.tile_size}: expected a multiple of 32"
    if not 0 <= card.forest_blend <= 1:
        return f"forest_blend {card.forest_blend}: expected a weight from 0 to 1"
    if card.forest_context and card.forest_blend > 0:
        return "forest_blend and forest_context: a package holds one way of using its forest"
    if any(s <= 0 for s in card.std):
        return "std: every band's standard deviation must be positive"
    return None


def weights_file(folder: Path) -> Path:
    return Path(folder) / "model.safetensors"


def network_weights(folder: Path) -> dict:
    """The network's tensors of a package, a blended one's included (to start training from)."""
    tensors = load_weights(folder)
    blended = split_tensors(tensors, "network")
    return blended or tensors


def load_weights(folder: Path) -> dict:
    """The package's tensors (safetensors: loading runs no code)."""
    try:
        return load_file(str(weights_file(folder)))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{weights_file(folder)}: cannot be read ({first_line(exc)})") from None


def weight_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the package's tensors, from the file's header only."""
    try:
        with safe_open(str(weights_file(folder)), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{weights_file(folder)}: cannot be read ({first_line(exc)})") from None


def load_second_opinion(folder: Path, card: ModelCard, model: nn.Module) -> nn.Module | None:
    """The package's second opinion on `model` (its loaded model), or None when it keeps none."""
    path = student_path(folder)
    if card.arch == FOREST_ARCH or not path.is_file():
        return None
    inputs = card.in_channels + (card.num_classes if card.forest_context else 0)
    network = build_network(card.arch, card.encoder, inputs, card.num_classes, where=str(Path(folder) / "model.json"))
    try:
        network.load_state_dict(load_file(str(path)))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise UserError(f"{path}: cannot be read as the network of model.json ({first_line(exc)})") from None
    return with_network(model, network)


def load_package(folder: Path) -> tuple[ModelCard, nn.Module]:
    card = read_card(folder)
    if card.arch == FOREST_ARCH:
        try:
            return card, PixelForest.from_state(load_weights(folder)).eval()
        except ValueError as exc:
            raise UserError(f"{weights_file(folder)}: {exc}") from None
    inputs = card.in_channels + (card.num_classes if card.forest_context else 0)
    network = build_network(card.arch, card.encoder, inputs, card.num_classes, where=str(Path(folder) / "model.json"))
    tensors = load_weights(folder)
    try:
        if card.forest_context:
            forest = PixelForest.from_state(split_tensors(tensors, "forest"))
            network.load_state_dict(split_tensors(tensors, "network"))
            return card, ForestContext(network, forest).eval()
        if card.forest_blend > 0:
            forest = PixelForest.from_state(split_tensors(tensors, "forest"))
            network.load_state_dict(split_tensors(tensors, "network"))
            return card, ForestBlend(network, forest, card.forest_blend).eval()
        network.load_state_dict(tensors)
    except (RuntimeError, ValueError) as exc:  # tensors of another network than model.json describes
        raise UserError(f"{weights_file(folder)}: its weights do not fit the network of model.json ({first_line(exc)})") from None
    network.eval()
    return card, network
