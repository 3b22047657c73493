"""Write a finished job's model packages (model/, or model/<domain>/ for several) and metrics.json."""

from __future__ import annotations

import json
from dataclasses import asdict

import torch.nn as nn

from semiseg.io.atomic import atomic_directory, write_text_atomic
from semiseg.models.blend import ForestBlend
from semiseg.models.context import ForestContext
from semiseg.models.forest import PixelForest
from semiseg.models.package import ModelCard, save_package
from semiseg.pipeline.domain_data import DomainData
from semiseg.pipeline.job_run import JobRun
from semiseg.train.forest import FOREST_TILE


def export_models(run: JobRun, domains: list[DomainData], models: dict[str, nn.Module], metrics: dict[str, dict], arch: str, encoder: str,
                  seconds: dict[str, nn.Module] | None = None) -> dict[str, ModelCard]:
    """One package per domain (`models`: float32 on the CPU; `seconds`: a domain's second
    opinion, models/second_opinion.py) and metrics.json; returns the cards.

    A stop request before or during the export raises Cancelled and leaves no model/; the
    checkpoint of the last step is already written (a pixel_forest job keeps none and fits
    again, identically), so `--resume` exports and predicts again without training.
    """
    run.cancel.check()
    run.phase("export", "writing the model package")
    spec = run.spec
    cards = {}
    for d in domains:
        name, model = d.prepared.name, models[d.prepared.name]
        cards[name] = d.card(arch, encoder, prediction_window(model, spec.train.tile_size), spec.method.model_dump(), metrics.get(name, {}), run.fingerprint)
        cards[name].forest_context = isinstance(model, ForestContext)
        if isinstance(model, ForestBlend):
            cards[name].forest_blend = model.weight
    with atomic_directory(run.jd.model) as tmp:
        for name, card in cards.items():
            save_package(tmp / name if spec.multi_domain else tmp, card, models[name], (seconds or {}).get(name))
        run.cancel.check()  # asked while writing: no finished-looking model/ of a cancelled run; --resume writes it again
    for name in cards:
        run.events.emit("output", kind="model", path=f"model/{name}" if spec.multi_domain else "model", source=None, **({"domain": name} if spec.multi_domain else {}))
    if spec.multi_domain:
        summary = {"validation": metrics, "models": {n: asdict(c) for n, c in cards.items()}}
    else:
        only = domains[0].prepared.name
        summary = {"validation": metrics.get(only, {}), "model": asdict(cards[only])}
    write_text_atomic(run.jd.metrics, json.dumps(summary, indent=2))
    return cards


def prediction_window(model: nn.Module, training_window: int) -> int:
    """The window a package predicts in: a forest's filters need room (30 px) at every window
    edge, so a forest, or a network with one inside (as context, or blended: the default
    method's gate), predicts in FOREST_TILE windows at least; a network alone in the window it
    trained on."""
    if isinstance(model, PixelForest):
        return FOREST_TILE
    if isinstance(model, (ForestContext, ForestBlend)):
        return max(training_window, FOREST_TILE)
    return training_window
