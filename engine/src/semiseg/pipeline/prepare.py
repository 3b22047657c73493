"""Check a job's inputs and load what training needs, reporting every problem at once.

A user fixing a job should see all of its problems in one go, one line each, naming the
file or field; nothing is written but the error events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import os

import numpy as np
from rasterio.windows import Window

from semiseg.data.labels import IGNORE_INDEX, load_labels, refuse_labels_too_large
from semiseg.errors import UserError
from semiseg.io.rasters import RasterInfo, check_readable, open_raster, raster_info, read_window
from semiseg.jobs.spec import DomainSpec, JobSpec, SegySections
from semiseg.models.forest import FOREST_ARCH, FOREST_ENCODER
from semiseg.models.encoder_weights import check_encoder_file
from semiseg.models.network import DEFAULT_ENCODER, check_model_names
from semiseg.models.package import ModelCard, read_card, weight_shapes
from semiseg.pipeline.segy_sources import check_segy_source
from semiseg.train.methods import METHODS, check_method, resolved_arch


@dataclass
class PreparedDomain:
    spec: DomainSpec
    labeled: list[RasterInfo]
    label_maps: list[np.ndarray]
    unlabeled: list[RasterInfo]
    predict: list[RasterInfo]
    bands: list[int]

    @property
    def pool(self) -> list[RasterInfo]:
        """Every raster of the domain: the labelled ones and the unlabelled ones."""
        return self.labeled + self.unlabeled

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class PreparedJob:
    spec: JobSpec
    domains: list[PreparedDomain]
    arch: str  # the network: model.arch, else the starting model's, else the method's default
    encoder: str  # model.encoder, else the starting model's, else resnet18
    init: ModelCard | None = None  # model.init_from's card: training starts from its weights
    warnings: list[str] = field(default_factory=list)


def prepare_inputs(spec: JobSpec) -> PreparedJob:
    method = spec.method.name
    problems = check_method(method, spec.method.params, list(dict.fromkeys(n for d in spec.domains for n in d.class_names)))
    if method in METHODS and not METHODS[method].trains_network:
        init, arch, encoder = None, FOREST_ARCH, FOREST_ENCODER
        problems += _network_fields_set(spec, method)
    else:
        init = _read_init_card(spec, problems)
        arch = spec.model.arch or (init.arch if init else resolved_arch(method, None))
        encoder = spec.model.encoder or (init.encoder if init else DEFAULT_ENCODER)
        problems += check_model_names(arch, encoder)
        if spec.model.encoder_weights_file is not None and not problems:
            problems += check_encoder_file(encoder, spec.model.encoder_weights_file)
    if spec.multi_domain and method in METHODS and not METHODS[method].supports_domains:
        multi = sorted(n for n, m in METHODS.items() if m.supports_domains)
        problems.append(f"job.json: method.name: {method!r} trains one domain; for several domains use {', '.join(multi)}")

    if spec.multi_domain and method in METHODS and not problems:  # the pixel forest is one domain's
        params = METHODS[method].Params.model_validate(spec.method.params)
        used = [name for name, on in (("pseudo_labels", getattr(params, "pseudo_labels", "none") != "none"),
                                      ("forest_context", getattr(params, "forest_context", False)),
                                      ("forest_blend", getattr(params, "forest_blend", 0) > 0)) if on]
        problems += [f"job.json: method.{name}: the pixel forest is fitted for one-domain jobs" for name in used]
    if spec.train.unlabeled_windows == "unlabeled_rasters" and method in METHODS and METHODS[method].uses_unlabeled:
        for d in spec.domains:
            if not d.unlabeled:
                where = f"domain {d.name!r}" if spec.multi_domain else "the job"
                problems.append(f"job.json: train.unlabeled_windows: 'unlabeled_rasters' needs unlabeled rasters, and {where} lists none")

    stems = [p.stem for d in spec.domains for p in d.predict]
    for stem in sorted({s for s in stems if stems.count(s) > 1}):
        problems.append(f"job.json: predict: two rasters are named {stem!r}; their outputs would collide")

    warnings: list[str] = []
    domains = [_prepare_domain(d, spec.multi_domain, problems, warnings) for d in spec.domains]
    if init is not None:
        problems += _init_mismatches(spec, domains[0], arch, encoder, init)
    if problems:
        raise UserError(*problems)
    return PreparedJob(spec, domains, arch, encoder, init, warnings)


def _network_fields_set(spec: JobSpec, method: str) -> list[str]:
    """A pixel classifier has no network to choose, pretrain or start from."""
    return [
        f"job.json: model.{name}: {method} trains no network; leave model.{name} out"
        for name in ("arch", "encoder", "encoder_weights", "init_from")
        if getattr(spec.model, name) is not None
    ]


def _read_init_card(spec: JobSpec, problems: list[str]) -> ModelCard | None:
    path = spec.model.init_from
    if path is None:
        return None
    if spec.multi_domain:
        problems.append("job.json: model.init_from: starting from a model works for one-domain jobs")
        return None
    try:
        card = read_card(path)
        weight_shapes(path)  # a damaged weights file is the user's to fix, found now
        return card
    except UserError as exc:
        problems.extend(f"job.json: model.init_from: {p}" for p in exc.problems)
        return None


def _init_mismatches(spec: JobSpec, domain: PreparedDomain, arch: str, encoder: str, init: ModelCard) -> list[str]:
    """What must agree for the starting model's weights to fit the network this job trains."""
    where = f"job.json: model.init_from: {os.path.normpath(spec.model.init_from)}"
    problems = []
    if init.class_names != domain.spec.class_names:
        problems.append(f"{where}: its classes {init.class_names} differ from the job's {domain.spec.class_names}")
    if domain.bands and init.bands != domain.bands:
        problems.append(f"{where}: it reads bands {init.bands}, the job {domain.bands}")
    if (init.arch, init.encoder) != (arch, encoder):
        problems.append(f"{where}: its network is {init.arch}/{init.encoder}, the job's {arch}/{encoder} (leave model.arch and model.encoder out to keep the model's)")
    if spec.model.encoder_weights:
        problems.append(f"{where}: model.encoder_weights would be overwritten by the starting model's weights; leave it out")
    return problems


_CHECK_BLOCK = 512


def _labelled_on_valid_data(raster: RasterInfo, ids: np.ndarray, bands: list[int], num_classes: int) -> np.ndarray:
    """Labelled pixels per class that fall on valid (not nodata) pixels, reading only the labelled blocks."""
    counts = np.zeros(num_classes, np.int64)
    with open_raster(raster.path) as ds:
        for row in range(0, raster.height, _CHECK_BLOCK):
            for col in range(0, raster.width, _CHECK_BLOCK):
                block = ids[row : row + _CHECK_BLOCK, col : col + _CHECK_BLOCK]
                labelled = block != IGNORE_INDEX
                if not labelled.any():
                    continue
                _, valid = read_window(ds, Window(col, row, block.shape[1], block.shape[0]), bands)
                counts += np.bincount(block[labelled & valid], minlength=num_classes)[:num_classes]
    return counts


def _prepare_domain(spec: DomainSpec, named: bool, problems: list[str], warnings: list[str]) -> PreparedDomain:
    where = f"domain {spec.name!r}: " if named else ""

    def info(path: Path, role: str) -> RasterInfo | None:
        try:
            return raster_info(path)
        except UserError as exc:
            problems.extend(f"{where}{role}: {p}" for p in exc.problems)
            return None

    labeled = [info(src.raster, "labeled raster") for src in spec.labeled]
    for i, raster in enumerate(labeled):  # before any file is read through: minutes, then a MemoryError
        if raster is None:
            continue
        try:
            refuse_labels_too_large(raster)
        except UserError as exc:
            problems.extend(f"{where}labeled raster: {p}" for p in exc.problems)
            labeled[i] = None
    unlabeled = []
    for source in spec.unlabeled:
        if isinstance(source, SegySections):  # cut into rasters when training starts (segy_sources.py)
            problems.extend(f"{where}unlabeled SEG-Y: {p}" for p in check_segy_source(source))
        else:
            unlabeled.append(info(source, "unlabeled raster"))
    predict = [info(p, "predict raster") for p in spec.predict]
    found = [i for i in labeled + unlabeled + predict if i is not None]

    bands: list[int] = []
    if found:
        reference = found[0]
        for i in found[1:]:
            if i.count != reference.count:
                problems.append(
                    f"{where}{i.path}: has {i.count} band(s) but {reference.path.name} has {reference.count}; "
                    "all rasters of a domain need the same bands"
                )
        fewest = min(i.count for i in found)
        bands = spec.bands or list(range(1, reference.count + 1))
        too_high = [b for b in bands if b > fewest]
        if too_high:
            problems.append(f"job.json: {where}bands: band(s) {too_high} do not exist (rasters have {fewest} band(s))")
        else:
            for i in {str(i.path): i for i in found}.values():  # a raster listed twice is read once
                try:
                    check_readable(i, bands)
                except UserError as exc:
                    problems.extend(f"{where}{p}" for p in exc.problems)

    label_maps: list[np.ndarray] = []
    taught = np.zeros(len(spec.classes), np.int64)  # labelled pixels on valid data, per class
    for src, raster in zip(spec.labeled, labeled):
        if raster is None:
            continue
        try:
            result = load_labels(src.labels, raster, len(spec.classes), src.class_field, src.layers, src.line_width_px, src.point_radius_px)
        except UserError as exc:
            problems.extend(f"{where}{p}" for p in exc.problems)
            continue
        warnings += result.warnings
        if not (result.ids != IGNORE_INDEX).any():
            problems.append(f"{where}{src.labels}: no labelled pixel falls on {raster.path.name} (labels do not overlap the raster?)")
        elif bands and not problems:
            counts = _labelled_on_valid_data(raster, result.ids, bands, len(spec.classes))
            if not counts.any():
                problems.append(f"{where}{src.labels}: every labelled pixel lies on nodata of {raster.path.name}; nothing to learn from")
            taught += counts
        label_maps.append(result.ids)
    learnt = [name for name, n in zip(spec.class_names, taught) if n]
    if len(learnt) == 1 and not problems:
        problems.append(f"job.json: {where}labels: only class {learnt[0]!r} is labelled (on valid pixels); a model needs labels of at least two classes")
    return PreparedDomain(spec, [i for i in labeled if i], label_maps, [i for i in unlabeled if i], [i for i in predict if i], bands)
