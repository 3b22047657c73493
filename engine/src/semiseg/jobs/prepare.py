"""Check a job's inputs and load what training needs, reporting every problem at once.

A user fixing a job should see all of its problems in one go, one line each, naming the
file or field; nothing is written but the error events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semiseg.data.labels import IGNORE_INDEX, load_labels
from semiseg.errors import UserError
from semiseg.io.rasters import RasterInfo, raster_info
from semiseg.jobs.spec import JobSpec
from semiseg.models.network import check_model_names
from semiseg.train.methods import check_method, resolved_arch


@dataclass
class PreparedInputs:
    spec: JobSpec
    labeled: list[RasterInfo]
    label_maps: list[np.ndarray]
    unlabeled: list[RasterInfo]
    predict: list[RasterInfo]
    bands: list[int]
    warnings: list[str] = field(default_factory=list)

    @property
    def pool(self) -> list[RasterInfo]:
        """Rasters for unlabelled windows: the unlabelled ones and the labelled ones."""
        return self.labeled + self.unlabeled


def prepare_inputs(spec: JobSpec) -> PreparedInputs:
    problems: list[str] = []
    problems += check_method(spec.method.name, spec.method.params, spec.class_names)
    problems += check_model_names(resolved_arch(spec.method.name, spec.model.arch), spec.model.encoder)

    def info(path: Path, role: str) -> RasterInfo | None:
        try:
            return raster_info(path)
        except UserError as exc:
            problems.extend(f"{role}: {p}" for p in exc.problems)
            return None

    labeled = [info(src.raster, "labeled raster") for src in spec.labeled]
    unlabeled = [info(p, "unlabeled raster") for p in spec.unlabeled]
    predict = [info(p, "predict raster") for p in spec.predict]
    all_infos = [i for i in labeled + unlabeled + predict if i is not None]

    bands: list[int] = []
    if all_infos:
        counts = {i.count for i in all_infos}
        reference = all_infos[0]
        for i in all_infos[1:]:
            if i.count != reference.count:
                problems.append(
                    f"{i.path}: has {i.count} band(s) but {reference.path.name} has {reference.count}; "
                    "all rasters of a job need the same bands"
                )
        bands = spec.bands or list(range(1, reference.count + 1))
        too_high = [b for b in bands if b > min(counts)]
        if too_high:
            problems.append(f"job.json: bands: band(s) {too_high} do not exist (rasters have {min(counts)} band(s))")

    stems = [p.stem for p in spec.predict]
    for stem in sorted({s for s in stems if stems.count(s) > 1}):
        problems.append(f"job.json: predict: two rasters are named {stem!r}; their outputs would collide")

    label_maps: list[np.ndarray] = []
    warnings: list[str] = []
    for src, raster in zip(spec.labeled, labeled):
        if raster is None:
            continue
        try:
            result = load_labels(
                src.labels, raster, len(spec.classes), src.class_field, src.layers, src.line_width_px, src.point_radius_px
            )
        except UserError as exc:
            problems.extend(exc.problems)
            continue
        warnings += result.warnings
        if not (result.ids != IGNORE_INDEX).any():
            problems.append(f"{src.labels}: no labelled pixel falls on {raster.path.name} (labels do not overlap the raster?)")
        label_maps.append(result.ids)

    if problems:
        raise UserError(*problems)
    return PreparedInputs(spec, labeled, label_maps, unlabeled, predict, bands, warnings)
