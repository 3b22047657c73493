"""The pixel forest a network method learns from or blends with, and its map of every raster.

Before a network with `pseudo_labels: pixel_forest` or `forest_context: true`
(train/methods/pseudo.py) trains, the forest is fitted on the same training labels and
predicts every labelled and unlabelled raster of the job into JOB_DIR/forest/ (classes and
confidence, the outputs any prediction has, so the analyst can also look at this first map;
with `forest_context`, every class's probability too). The training windows then read their
pseudo-labels, or their context channels, from those rasters. For context, the labelled pixels'
probabilities come from forests that never saw them (train/forest_folds.py), so the network
learns how far a forest is to be trusted on pixels it did not learn from.
A method that only blends with the forest at export (`forest_blend`, `blend_on_validation`)
needs the fitted forest alone, not the maps.
`--resume` keeps the forest and the maps a run of the same job (same fingerprint) completed,
also when the run was stopped before its first checkpoint (forest_of_this_job).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
import torch

from semiseg.data.dataset import PseudoLabelMap
from semiseg.errors import UserError
from semiseg.io.atomic import atomic_directory
from semiseg.io.rasters import RasterInfo
from semiseg.jobs.jobdir import JobDir
from semiseg.models.forest import FOREST_ARCH, FOREST_ENCODER, PixelForest
from semiseg.models.package import ModelCard, load_package, read_card, save_package
from semiseg.pipeline.domain_data import DomainData
from semiseg.pipeline.job_run import JobRun
from semiseg.predict.raster import PredictionPaths, PredictOptions, WindowPredictor, predict_raster
from semiseg.train.forest import FOREST_TILE, train_pixel_forest
from semiseg.train.forest_folds import write_out_of_fold
from semiseg.train.methods.pixel_forest import PixelForestParams
from semiseg.train.methods.pseudo import PseudoLabelParams

# Windows of a forest only need to overlap by the reach of its filters (30 px each side), not
# by the networks' half window: its features are local, and this halves the cost of the maps.
FOREST_MAP_OVERLAP = 0.125


@dataclass
class ForestMaps:
    forest: PixelForest
    pseudo: dict[str, PseudoLabelMap]  # raster path -> its pseudo-labels
    context: dict[str, Path] | None  # raster path -> its probabilities raster, with forest_context


def fitted_forest(run: JobRun, domain: DomainData, resume: bool) -> tuple[PixelForest, ModelCard]:
    """The job's pixel forest, fitted on the domain's training labels and kept as a package in
    JOB_DIR/forest/model (a --resume of the same job, same fingerprint, loads it instead)."""
    jd = run.jd
    if not resume:
        shutil.rmtree(jd.forest, ignore_errors=True)  # a forest or maps of an earlier job are not this one's
    package = jd.forest / "model"
    params = PixelForestParams()
    # The job's fingerprint ties the package to these inputs: a run stopped between this export and
    # its first checkpoint resumes from it (forest_of_this_job).
    card = domain.card(FOREST_ARCH, FOREST_ENCODER, FOREST_TILE, {"name": "pixel_forest", **params.model_dump()}, {}, run.fingerprint)
    if (package / "model.json").is_file():
        _, forest = load_package(package)
        return forest, card
    run.phase("pseudo", "fitting the pixel forest")
    forest, _ = train_pixel_forest(domain.forest_data(params), lambda n: run.cancel.check())
    with atomic_directory(package) as tmp:
        save_package(tmp, card, forest)
    return forest, card


def forest_of_this_job(jd: JobDir, fingerprint: str) -> bool:
    """Whether JOB_DIR/forest/model is a complete forest package fitted for this job (inputs and engine)."""
    try:
        return read_card(jd.forest / "model").fingerprint == fingerprint != ""
    except UserError:
        return False


def forest_maps(run: JobRun, domain: DomainData, method: PseudoLabelParams, device: torch.device, resume: bool) -> ForestMaps:
    """Fit the forest (fitted_forest), map every raster of the domain, and return the maps
    (pseudo-labels: pixels whose forest confidence is below `method.pseudo_confidence` carry none).

    Every DDP rank runs this alike: the maps are deterministic and written atomically.
    """
    jd, on_phase, check = run.jd, run.phase, run.cancel.check
    rasters = _distinct(domain.prepared.labeled + domain.windows.source.pool)
    folders = _folders(jd, rasters)
    context = method.forest_context
    paths = {str(r.path): PredictionPaths.for_raster(r.path, folders[str(r.path)], probabilities=context) for r in rasters}
    forest, card = fitted_forest(run, domain, resume)
    labelled = {str(r.path) for r in domain.prepared.labeled}
    out_of_fold_done = jd.forest_out_of_fold_done
    if context and not out_of_fold_done.is_file():  # a map whose out-of-fold pass did not finish is redone
        for key in labelled:
            paths[key].probabilities.unlink(missing_ok=True)
    missing = [r for r in rasters if not all(p.is_file() for p in _map_files(paths[str(r.path)]))]
    if missing:
        predictor = WindowPredictor(forest, device, run.spec.inference.batch_size)
        for i, raster in enumerate(missing, 1):
            on_phase("pseudo", f"forest map of {raster.path.name} ({i} of {len(missing)})")
            predict_raster(card, predictor, raster.path, folders[str(raster.path)], PredictOptions(FOREST_MAP_OVERLAP, probabilities=context, cog=False), lambda done, total: check())
    if context and not out_of_fold_done.is_file():
        on_phase("pseudo", "out-of-fold forests for the labelled pixels' context")
        write_out_of_fold(domain.forest_data(PixelForestParams()), [paths[str(r.path)].probabilities for r in domain.prepared.labeled], check)
        out_of_fold_done.touch()
    pseudo = {key: PseudoLabelMap(p.classes, p.confidence, method.pseudo_confidence) for key, p in paths.items()}
    return ForestMaps(forest, pseudo, {key: p.probabilities for key, p in paths.items()} if context else None)


def _map_files(paths: PredictionPaths) -> list[Path]:
    return [paths.classes, paths.confidence] + ([paths.probabilities] if paths.probabilities else [])


def _distinct(rasters: list[RasterInfo]) -> list[RasterInfo]:
    seen: dict[str, RasterInfo] = {}
    for r in rasters:
        seen.setdefault(str(r.path), r)
    return list(seen.values())


def _folders(jd: JobDir, rasters: list[RasterInfo]):
    """JOB_DIR/forest/ for every raster, or a numbered folder each when two share a file name."""
    stems = [r.path.stem for r in rasters]
    if len(set(stems)) == len(stems):
        return {str(r.path): jd.forest for r in rasters}
    return {str(r.path): jd.forest / f"{i:03d}" for i, r in enumerate(rasters)}
