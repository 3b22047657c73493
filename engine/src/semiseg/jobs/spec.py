"""The job spec (job.json), validated field by field with one message per problem.

docs/job-spec.md documents every field; keep the two in step.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from semiseg.errors import UserError
from semiseg.jobs.jobdir import JobDir

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassDef(_Strict):
    id: int = Field(ge=0, le=254)
    name: str = Field(min_length=1)
    color: str = "#808080"

    @field_validator("color")
    @classmethod
    def _hex_color(cls, value: str) -> str:
        if not _COLOR.match(value):
            raise ValueError(f"color {value!r} is not of the form #rrggbb")
        return value.lower()


class LabeledSource(_Strict):
    raster: Path
    labels: Path
    class_field: str = "class_id"
    layers: list[str] | None = None
    line_width_px: float = Field(default=3.0, gt=0)
    point_radius_px: float = Field(default=2.0, gt=0)


class SegySections(_Strict):
    """A SEG-Y volume as unlabelled data: sections cut from it every K lines (0: none along that axis).

    The engine cuts them into JOB_DIR/segy/ (pipeline/segy_sources.py) as the rasters
    `semiseg segy sections` writes, and trains on them like any unlabelled raster.
    """

    segy: Path
    inline_every: int = Field(default=0, ge=0)
    crossline_every: int = Field(default=0, ge=0)
    slice_every: int = Field(default=0, ge=0)  # time/depth slices every K samples: map views of the volume

    @model_validator(mode="after")
    def _some_sections(self) -> "SegySections":
        if not (self.inline_every or self.crossline_every or self.slice_every):
            raise ValueError("give inline_every, crossline_every or slice_every (every K lines or samples)")
        return self


# What `method` means when a job omits it, and what the plugin offers first. Chosen from the
# real-data benchmark (docs/benchmarks.md): mean_teacher gains on aerial and seismic scenes but
# loses 6.0 mIoU on average when the unlabeled rasters are from another season (s2-strzegom,
# U-Net), so the safe default stays supervised until a method gains on every set.
DEFAULT_METHOD = "mean_teacher"


class MethodSpec(BaseModel):
    """`name` picks the method; every other key is that method's parameter."""

    model_config = ConfigDict(extra="allow")
    name: str = DEFAULT_METHOD

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


WEIGHTS_FILE_SUFFIXES = (".safetensors", ".pt", ".pth")


class ModelSpec(_Strict):
    arch: str | None = None  # None: the starting model's (init_from), else the method's default (unet; s6: deeplabv3plus)
    encoder: str | None = None  # None: the starting model's (init_from), else resnet18
    # smp's name of pretrained weights in the local cache (e.g. imagenet), or a weights file
    # (models/encoder_weights.py): a path ending in one of WEIGHTS_FILE_SUFFIXES
    encoder_weights: str | None = None
    init_from: Path | None = None  # a model package to start from (train again after correcting labels)

    @property
    def encoder_weights_file(self) -> Path | None:
        """The weights file `encoder_weights` names; None for a cache name such as imagenet."""
        value = self.encoder_weights
        return Path(value) if value and value.lower().endswith(WEIGHTS_FILE_SUFFIXES) else None


class TrainSpec(_Strict):
    # The schedule the quality benchmark measures every method at (docs/benchmarks.md, `cpu-long`):
    # a network trained from scratch, sized so that a 2-core CPU gives the final map of a ~2000 x
    # 1500 px orthophoto within 20 minutes (bench-first-map). A GPU can afford more steps and
    # larger windows; nothing measured says by how much they help yet.
    steps: int = Field(default=1200, ge=1)
    batch_size: int = Field(default=4, ge=1)
    tile_size: int = Field(default=96, ge=32)
    lr: float = Field(default=1e-3, gt=0)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # the range every generator seeded from it accepts
    val_fraction: float = Field(default=0.15, ge=0, lt=0.9)
    eval_every: int | None = Field(default=None, ge=1)
    checkpoint_every: int | None = Field(default=None, ge=1)
    class_balanced: bool = True
    # Where semi-supervised methods cut unlabelled windows: every raster, area-proportional
    # (the labelled ones too), or only the rasters the job lists as unlabeled.
    unlabeled_windows: Literal["all_rasters", "unlabeled_rasters"] = "all_rasters"
    # Unlabelled windows per labelled window in a batch: more consistency signal per step,
    # at the cost of more forward passes (semi-supervised methods only).
    unlabeled_per_labeled: int = Field(default=1, ge=1, le=16)
    num_workers: int | None = Field(default=None, ge=0)
    # "auto": bfloat16 mixed precision where the hardware has it (a bf16-capable GPU; a CPU with
    # AVX512-BF16 or AMX, where a step takes about half the time at the same quality,
    # docs/benchmarks.md), float32 elsewhere; "bf16": bfloat16 everywhere; "32": float32 everywhere.
    precision: Literal["auto", "32", "bf16"] = "auto"

    @field_validator("tile_size")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value % 32:
            raise ValueError(f"tile_size {value} must be a multiple of 32 (the networks downsample by 32)")
        return value

    @property
    def eval_interval(self) -> int:
        return self.eval_every or max(1, self.steps // 5)

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or max(1, self.steps // 10)


DEFAULT_MIN_POLYGON_PIXELS = 16  # a 4 x 4 block: single noisy pixels do not become polygons


class InferenceSpec(_Strict):
    overlap: float = Field(default=0.5, ge=0, lt=1)
    batch_size: int = Field(default=8, ge=1)
    polygons: bool = False  # also <stem>_polygons.gpkg for every predicted raster
    min_polygon_pixels: int = Field(default=DEFAULT_MIN_POLYGON_PIXELS, ge=1)  # smaller regions merge into a neighbour first
    suggestions: int = Field(default=20, ge=0)  # <stem>_suggestions.gpkg: where to label next (predict/suggestions.py); 0: none
    # "auto": bfloat16 on a GPU that computes it natively (Ampere on), float32 on a CPU (bfloat16 on
    # a CPU with AVX512-BF16 was faster on large windows and slower on small ones, at 99.8 % of
    # pixels the same class: docs/benchmarks.md); "32": float32 everywhere (what an exported
    # ONNX model computes); "bf16": bfloat16 everywhere.
    precision: Literal["auto", "32", "bf16"] = "auto"
    # Test-time augmentation: each window predicted in its 8 orientations (4 turns, flipped or
    # not) and the probabilities averaged; 8x the prediction time (docs/benchmarks.md).
    tta: bool = False
    # What computes the network: "auto" (default) onnxruntime where the prediction runs on a CPU in
    # float32 (its network 1.2-1.3x PyTorch's speed there, the same classes: predict/cpu_runtime.py),
    # PyTorch elsewhere; "torch": PyTorch everywhere; "onnxruntime": refused where it cannot run.
    runtime: Literal["auto", "torch", "onnxruntime"] = "auto"


class DomainSpec(_Strict):
    """One label space: its classes, labelled and unlabelled rasters, bands and rasters to predict.

    A job without `domains` is one domain named "default" made of the top-level fields.
    """

    name: str = Field(default="default", min_length=1, pattern=r"^[A-Za-z0-9_-]+$")  # used in file and layer names
    classes: list[ClassDef] = Field(min_length=2)
    labeled: list[LabeledSource] = Field(min_length=1)
    unlabeled: list[SegySections | Path] = []  # rasters, or SEG-Y volumes to cut sections from
    bands: list[int] | None = None
    predict: list[Path] = []

    @field_validator("bands")
    @classmethod
    def _bands_one_based(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or min(value) < 1):
            raise ValueError("bands are 1-based band indexes, e.g. [1, 2, 3]; use null for all bands")
        return value

    @model_validator(mode="after")
    def _class_ids_contiguous(self) -> "DomainSpec":
        ids = sorted(c.id for c in self.classes)
        if ids != list(range(len(ids))):
            raise ValueError(f"class ids must be 0..{len(ids) - 1}, each once; got {ids}")
        seen: dict[str, int] = {}
        for c in sorted(self.classes, key=lambda c: c.id):  # a legend, a map's layer and the plugin tell classes by name
            key = c.name.strip().casefold()
            if key in seen:
                raise ValueError(f"classes {seen[key]} and {c.id} are both named {c.name!r}; give each class its own name")
            seen[key] = c.id
        return self

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in sorted(self.classes, key=lambda c: c.id)]

    @property
    def class_colors(self) -> list[str]:
        return [c.color for c in sorted(self.classes, key=lambda c: c.id)]

    def resolved(self, base: Path) -> "DomainSpec":
        def fix(p: Path) -> Path:
            return p if p.is_absolute() else (base / p)

        data = self.model_copy(deep=True)
        for src in data.labeled:
            src.raster, src.labels = fix(src.raster), fix(src.labels)
        data.unlabeled = [p.model_copy(update={"segy": fix(p.segy)}) if isinstance(p, SegySections) else fix(p)
                          for p in data.unlabeled]
        data.predict = [fix(p) for p in data.predict]
        return data


_DOMAIN_FIELDS = ("classes", "labeled", "unlabeled", "bands", "predict")


class JobSpec(_Strict):
    version: Literal[1]
    domains: list[DomainSpec] = Field(min_length=1)
    method: MethodSpec = MethodSpec()
    model: ModelSpec = ModelSpec()
    train: TrainSpec = TrainSpec()
    inference: InferenceSpec = InferenceSpec()

    @model_validator(mode="after")
    def _distinct_domain_names(self) -> "JobSpec":
        names = [d.name for d in self.domains]
        if len(set(names)) != len(names):
            raise ValueError(f"domain names must differ; got {names}")
        return self

    @property
    def multi_domain(self) -> bool:
        return len(self.domains) > 1

    def resolved(self, base: Path) -> "JobSpec":
        """A copy whose relative paths are resolved against `base` (the job directory)."""
        data = self.model_copy(deep=True)
        data.domains = [d.resolved(base) for d in data.domains]
        if data.model.init_from is not None and not data.model.init_from.is_absolute():
            data.model.init_from = base / data.model.init_from
        weights = data.model.encoder_weights_file
        if weights is not None and not weights.is_absolute():
            data.model.encoder_weights = str(base / weights)
        return data


def parse_job(raw: dict, source: str = "job.json") -> JobSpec:
    """Validate a job; single-domain jobs keep their top-level fields (and error locations)."""
    single = "domains" not in raw
    if single:
        raw = dict(raw)
        raw["domains"] = [{k: raw.pop(k) for k in _DOMAIN_FIELDS if k in raw}]
    elif any(k in raw for k in _DOMAIN_FIELDS):
        clash = ", ".join(k for k in _DOMAIN_FIELDS if k in raw)
        raise UserError(f"{source}: {clash}: give these inside each of `domains`, not beside it")
    try:
        return JobSpec.model_validate(raw)
    except ValidationError as exc:
        raise UserError(*[_format_problem(source, err, single) for err in exc.errors()]) from None


def load_job(job_dir: Path) -> JobSpec:
    """Read and validate JOB_DIR/job.json; paths come back resolved against JOB_DIR."""
    path = JobDir(Path(job_dir)).spec
    if not path.is_file():
        raise UserError(f"{path}: file not found (a job directory needs a job.json)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:  # lists or objects nested thousands deep: no job is
        raise UserError(f"{path}: not a job: its JSON is nested too deep to read") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: must hold a JSON object")
    return parse_job(raw, str(path)).resolved(Path(job_dir))


def _format_problem(source: str, err: dict, single_domain: bool) -> str:
    loc = list(err["loc"])
    if single_domain and loc[:2] == ["domains", 0]:
        loc = loc[2:]  # the user wrote these fields at the top level
    where = ".".join(str(p) for p in loc) or "(top level)"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    if err["type"] == "missing":
        message = "required"
    return f"{source}: {where}: {message}"
