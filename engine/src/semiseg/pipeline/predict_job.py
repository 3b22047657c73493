"""Predict the rasters a job lists (`predict`) with the models it just exported, into outputs/."""

from __future__ import annotations

import time

import torch
import torch.nn as nn

from semiseg.devices import uses_bf16
from semiseg.models.package import ModelCard
from semiseg.pipeline.domain_data import DomainData
from semiseg.pipeline.job_run import JobRun
from semiseg.predict.raster import PredictOptions, WindowPredictor, predict_raster


def predict_job(run: JobRun, domains: list[DomainData], cards: dict[str, ModelCard], models: dict[str, nn.Module], device: torch.device,
                seconds: dict[str, nn.Module] | None = None) -> None:
    """Every domain's `predict` rasters with its model (and its second opinion, `seconds`, for
    the suggestions); an `output` event per file written.

    A stop request is honoured between prediction batches (Cancelled)."""
    spec, jd = run.spec, run.jd
    options = PredictOptions.of(spec.inference)
    for d in domains:
        name = d.prepared.name
        second = (seconds or {}).get(name) if options.suggestions else None
        predictor = WindowPredictor(models[name], device, spec.inference.batch_size, uses_bf16(spec.inference.precision, device), spec.inference.tta, second,
                                    spec.inference.runtime)
        for raster in d.prepared.spec.predict:
            run.phase("predict", f"predicting {raster.name}")
            paths = predict_raster(cards[name], predictor, raster, jd.outputs, options, _window_progress(run), run.phase)
            for kind, path in paths.outputs():
                run.events.emit("output", kind=kind, path=str(path.relative_to(jd.root)), source=str(raster))


def _window_progress(run: JobRun, every_s: float = 2.0):
    """`on_tile` of a prediction inside a job: a stop request is honoured between batches, and
    `progress` events count windows (`unit` "window"), at most every `every_s` and at the last."""
    start, last = time.monotonic(), [0.0]

    def on_tile(done: int, total: int) -> None:
        run.cancel.check()
        now = time.monotonic()
        if done and (now - last[0] >= every_s or done == total):
            last[0] = now
            elapsed = now - start
            run.events.emit("progress", unit="window", step=done, total=total, elapsed_s=round(elapsed, 1), eta_s=round(elapsed / done * (total - done), 1))

    return on_tile
