"""Writing a job directory (job.json + a snapshot of the labels) from what the user chose.

The labels of each labelled raster are copied into their own GeoPackage in JOB_DIR
(labels.gpkg for the first raster, labels_2.gpkg, labels_3.gpkg, ... for the others; edits not
yet saved included), so the engine reads stable files while the user keeps labelling, and the
job can be re-run later as it was.
"""
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from qgis.core import QgsCoordinateTransformContext, QgsProject, QgsVectorFileWriter

from ..common import classes as class_list
from ..common.label_layers import CLASS_FIELD
from .jobdir import JobDir, MODEL_FILE, labels_file_name

# The engine's default method (`semiseg methods --json` "default"): what a job names before any
# engine has listed its methods, and what is offered alone until one does (method_form).
# tests/plugin/test_engine.py ties it to the engine's registry, the one list of methods.
DEFAULT_METHOD = "mean_teacher"
DEVICES = ("auto", "cpu", "cuda")
# "Quick map": the engine's pixel classifier, a first map in a few minutes on a CPU (README: 120-189 s
# for a 1126 x 1058 px tile on a busy 2-core machine; 55 s in docs/benchmarks.md beside less load).
QUICK_METHOD = "pixel_forest"
# The engine's training defaults (job.json train.*, docs/job-spec.md): the schedule the quality
# benchmark measures, a final map of a ~2000 x 1500 orthophoto within 20 minutes on 2 CPU cores.
DEFAULT_STEPS = 1200
DEFAULT_TILE = 96
DEFAULT_BATCH = 4
# "Train again": the short schedule that continues the last model with the new labels, sized for
# a round of the labelling loop (training, then the visible area's map) in about two minutes on
# a 2-core CPU (docs/benchmarks.md, bench-first-map): a warm start needs far fewer steps than a
# training from scratch, and smaller windows make each step cheaper (the network is the same).
RETRAIN_STEPS = 150
RETRAIN_TILE = 96  # the default windows: the network continues at the scale it learned
RETRAIN_BATCH = 4


@dataclass
class LabeledRaster:
    """One `labeled` entry: a raster file and its label layers (QgsVectorLayer)."""
    raster: str
    label_layers: list


@dataclass
class JobRequest:
    """Everything job.json says, in plugin terms (layers already resolved to files).

    `labeled[0]` is the raster the job predicts; every entry is a labelled raster for training.
    """
    classes: list
    labeled: list  # LabeledRaster, at least one
    unlabeled: list = field(default_factory=list)
    method: str = DEFAULT_METHOD
    method_params: dict = field(default_factory=dict)  # validated by the engine, one error per key
    steps: int = DEFAULT_STEPS
    tile_size: int = DEFAULT_TILE
    batch_size: int = DEFAULT_BATCH
    line_width_px: int = 3
    class_field: str = CLASS_FIELD
    device: str = "auto"  # a command-line option of `semiseg train`, not part of job.json
    predict: bool = True
    polygons: bool = False  # the prediction also as class polygons
    init_from: str = ""  # a model folder to start from (train again after correcting labels)
    encoder_weights: str = ""  # a file of pretrained encoder weights (`semiseg weights` writes one)

    @property
    def raster(self) -> str:
        """The first labelled raster: the one predicted at the end of training."""
        return self.labeled[0].raster


def check_tile_size(tile: int) -> None:
    """ValueError for a tile size the engine would refuse only after starting (dock and Processing)."""
    if tile % 32:
        raise ValueError(f"Tile size {tile} px is not a multiple of 32 (the networks downsample by 32): "
                         f"use {32 * max(1, round(tile / 32))} px.")


def check_unlabeled_bands(training: str, training_bands: int, unlabeled: list) -> None:
    """ValueError for an unlabeled raster ((file, band count) pairs; 0: unreadable, left to the
    engine) whose band count differs from the training raster's: the engine would refuse it only
    after reading the labels."""
    for path, bands in unlabeled:
        if bands and bands != training_bands:
            raise ValueError(f"The unlabeled raster {Path(path).name} has {bands} band(s), the training raster "
                             f"{training} {training_bands}: remove it from the unlabeled rasters.")


def quick_map(request: JobRequest) -> JobRequest:
    """The same labels and rasters for the pixel classifier: it trains no network, so no start model."""
    return replace(request, method=QUICK_METHOD, method_params={}, init_from="", encoder_weights="")


def train_again(request: JobRequest, model: str) -> JobRequest:
    """The same job continued from `model` on the quick schedule (RETRAIN_*; the user's windows
    and batch if smaller); it predicts nothing itself (the dock refreshes the visible area first,
    then the whole raster)."""
    return replace(request, init_from=model, encoder_weights="", steps=RETRAIN_STEPS, tile_size=min(RETRAIN_TILE, request.tile_size),
                   batch_size=min(RETRAIN_BATCH, request.batch_size), predict=False)


def last_model_of(raster: str, jobs: list) -> str:
    """The model folder of the newest training (of `jobs`, oldest first) that learned from labels
    on the raster file `raster` and trained a network; "" when there is none."""
    for job_dir in reversed(jobs):
        folder = JobDir(Path(job_dir))
        try:
            spec = json.loads(folder.spec.read_text())
            card = json.loads((folder.model / MODEL_FILE).read_text())
        except (OSError, ValueError):  # a prediction run, a job still training or gone
            continue
        if card.get("method", {}).get("name") == QUICK_METHOD:  # no network to continue
            continue
        if any(Path(entry.get("raster", "")) == Path(raster) for entry in spec.get("labeled", [])):
            return str(folder.model.resolve())
    return ""


def new_job_dir(base: str, project: QgsProject, prefix: str = "") -> Path:
    """A fresh JOB_DIR under `base`, else `<project folder>/semiseg_jobs`, else the home folder."""
    root = Path(base) if base else Path(project.homePath() or Path.home()) / "semiseg_jobs"
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    job_dir, n = root / stamp, 1
    while job_dir.exists():
        n += 1
        job_dir = root / f"{stamp}-{n}"
    return job_dir


def job_spec(request: JobRequest) -> dict:
    return {
        "version": 1,
        "classes": class_list.to_job(request.classes),
        "labeled": [{"raster": entry.raster, "labels": labels_file_name(i), "class_field": request.class_field,
                     "line_width_px": request.line_width_px} for i, entry in enumerate(request.labeled)],
        "unlabeled": list(request.unlabeled),
        "method": {"name": request.method, **request.method_params},
        "train": {"steps": request.steps, "batch_size": request.batch_size,
                  "tile_size": request.tile_size},
        "predict": [request.raster] if request.predict else [],
        **({"inference": {"polygons": True}} if request.polygons else {}),
        **({"model": model} if (model := _model_block(request)) else {}),
    }


def _model_block(request: JobRequest) -> dict:
    """The job's `model` block: where the network's weights start from, when not from random."""
    return {k: v for k, v in (("init_from", request.init_from), ("encoder_weights", request.encoder_weights)) if v}


def start_model(folder: str) -> str:
    """A "start from model" folder as job.json wants it: absolute (the job directory is a new
    folder) and checked to be a model package; "" when none was given."""
    folder = (folder or "").strip()
    if not folder:
        return ""
    if not (Path(folder) / MODEL_FILE).is_file():
        raise ValueError(f"Start from model: {folder} is not a model folder (no model.json); "
                         "pick JOB_DIR/model of an earlier training.")
    return str(Path(folder).resolve())


WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth")  # what the engine reads as encoder weights (docs/job-spec.md)


def start_weights(path: str, init_from: str) -> str:
    """A "pretrained encoder" file as job.json wants it: absolute and of a kind the engine reads;
    "" when none was given. A start model brings all its weights, so the two exclude each other."""
    path = (path or "").strip()
    if not path:
        return ""
    if not path.lower().endswith(WEIGHTS_SUFFIXES) or not Path(path).is_file():
        raise ValueError(f"Pretrained encoder: {path} is not a weights file (.safetensors, .pt or .pth); "
                         "`semiseg weights resnet18 --out FILE.safetensors` writes one on a machine with internet.")
    if init_from:
        raise ValueError("Pretrained encoder and Start from model: the start model brings all its weights; leave one of them empty.")
    return str(Path(path).resolve())


def write_job(job_dir: Path, request: JobRequest) -> Path:
    """Create JOB_DIR with job.json and one labels GeoPackage per labelled raster; returns the
    job.json path."""
    if not request.labeled:
        raise ValueError("A job needs at least one labelled raster.")
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=False)
    for i, entry in enumerate(request.labeled):
        export_labels(entry.label_layers, job_dir / labels_file_name(i), request.class_field)
    spec = job_spec(request)
    path = JobDir(job_dir).spec
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(spec, indent=2))
    tmp.replace(path)
    return path


def export_labels(layers: list, path: Path, class_field: str) -> None:
    """Each label layer (unsaved edits included) becomes a layer of one GeoPackage.

    Only the class field is copied: the engine needs nothing else, and unsaved features carry
    placeholder values (e.g. an "Autogenerate" fid) that cannot be written.
    """
    names = set()
    for i, layer in enumerate(layers):
        index = layer.fields().indexOf(class_field)
        if index < 0:
            raise ValueError(f"The label layer {layer.name()} has no field \"{class_field}\".")
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        options.layerName = layer.name().replace(" ", "_")
        if options.layerName in names:  # e.g. "scribbles" of two GeoPackages
            options.layerName += f"_{i}"
        names.add(options.layerName)
        options.attributes = [index]
        if i:
            options.actionOnExistingFile = QgsVectorFileWriter.CreateOrOverwriteLayer
        error, message, _, _ = QgsVectorFileWriter.writeAsVectorFormatV3(
            layer, str(path), QgsCoordinateTransformContext(), options)
        if error != QgsVectorFileWriter.NoError:
            raise OSError(f"cannot copy labels of {layer.name()} to {path}: {message}")

