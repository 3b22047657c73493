"""The pixel forest's map of every raster a network method trains on, as its dense pseudo-labels.

Before a network with `pseudo_labels: pixel_forest` (train/methods/pseudo.py) trains, the
forest is fitted on the same training labels and predicts every labelled and unlabelled raster
of the job into JOB_DIR/forest/ (classes and confidence, the outputs any prediction has, so the
analyst can also look at this first map). The training windows then read their pseudo-labels
from those rasters. `--resume` keeps maps a run of the same job (same fingerprint) completed.
"""

from __future__ import annotations

import shutil
from typing import Callable

import torch

from semiseg.data.dataset import PseudoLabelMap
from semiseg.io.rasters import RasterInfo
from semiseg.jobs.jobdir import JobDir
from semiseg.jobs.spec import JobSpec
from semiseg.io.atomic import atomic_directory
from semiseg.models.forest import FOREST_ARCH, FOREST_ENCODER, PixelForest
from semiseg.models.package import load_package, save_package
from semiseg.predict.raster import PredictionPaths, WindowPredictor, predict_raster
from semiseg.pipeline.domain_data import DomainData
from semiseg.train.forest import FOREST_TILE, train_pixel_forest
from semiseg.train.methods.pixel_forest import PixelForestParams

# Windows of a forest only need to overlap by the reach of its filters (30 px each side), not
# by the networks' half window: its features are local, and this halves the cost of the maps.
PSEUDO_OVERLAP = 0.125


def forest_pseudo_labels(
    jd: JobDir,
    spec: JobSpec,
    domain: DomainData,
    threshold: float,
    device: torch.device,
    resume: bool,
    on_phase: Callable[[str, str], None],
    check: Callable[[], None],
) -> tuple[dict[str, PseudoLabelMap], PixelForest]:
    """Fit the forest (kept as a package in JOB_DIR/forest/model), map every raster of the domain,
    and return each raster's pseudo-label map (pixels whose forest confidence is below `threshold`
    carry none) and the forest.

    Every DDP rank runs this alike: the maps are deterministic and written atomically.
    """
    t = spec.train
    rasters = _distinct(domain.prepared.labeled + domain.windows.source.pool)
    folders = _folders(jd, rasters)
    paths = {str(r.path): PredictionPaths.for_raster(r.path, folders[str(r.path)]) for r in rasters}
    if not resume:
        shutil.rmtree(jd.forest, ignore_errors=True)  # maps of an earlier job are not this one's
    package = jd.forest / "model"
    params = PixelForestParams()
    card = domain.card(FOREST_ARCH, FOREST_ENCODER, FOREST_TILE, {"name": "pixel_forest", **params.model_dump()}, {}, "")
    if (package / "model.json").is_file():  # --resume: this job's forest (the fingerprint matched)
        _, forest = load_package(package)
    else:
        on_phase("pseudo", "fitting the pixel forest for pseudo-labels")
        forest, _ = train_pixel_forest(
            domain.prepared.labeled, domain.windows.source.label_maps, domain.prepared.bands, domain.stats, len(domain.info.class_names), params, t.class_balanced, t.seed, lambda n: check()
        )
        with atomic_directory(package) as tmp:
            save_package(tmp, card, forest)
    missing = [r for r in rasters if not (paths[str(r.path)].classes.is_file() and paths[str(r.path)].confidence.is_file())]
    if missing:
        predictor = WindowPredictor(forest, device, spec.inference.batch_size)
        for i, raster in enumerate(missing, 1):
            on_phase("pseudo", f"pseudo-labels of {raster.path.name} ({i} of {len(missing)})")
            predict_raster(card, predictor, raster.path, folders[str(raster.path)], PSEUDO_OVERLAP, on_tile=lambda done, total: check())
    return {key: PseudoLabelMap(p.classes, p.confidence, threshold) for key, p in paths.items()}, forest


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
