"""Processing algorithm "Train model": labels + rasters -> model folder and prediction rasters.

Several labelled rasters: RASTER takes one or more rasters, LABELS the label layers. With one
raster, every label layer labels it; with several, label layers pair with rasters by order (the
first label layer labels the first raster, ...), so both counts must be equal.
"""
from pathlib import Path

from qgis.PyQt.QtGui import QIcon
from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputFile, QgsProcessingOutputFolder, QgsProcessingOutputRasterLayer, QgsProcessingOutputVectorLayer,
                       QgsProcessingParameterBoolean, QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterFolderDestination,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)
import qgis.utils

from ..common import classes as class_list
from ..common import settings
from ..common.label_layers import CLASS_FIELD
from ..common.paths import icon_path
from ..dock import method_form
from ..engine_process import engine
from ..jobs import job
from ..jobs.jobdir import JobDir
from .engine_run import load_outputs, run_engine


def offered_methods() -> list:
    """The engine's one-domain methods, its default first, for the METHOD choice.

    Processing defines its parameters as QGIS starts, when the engine has not been run: the list
    is the one it gave when last asked (the dock asks at every start). Without a window
    (qgis_process) nobody else asks, so an engine never asked is asked here, once per profile.
    """
    python = settings.engine_python()
    catalog = method_form.known(python)
    if catalog.note and python and qgis.utils.iface is None:
        catalog = method_form.ask_engine(python)
    return catalog.one_domain_names()


class TrainAlgorithm(QgsProcessingAlgorithm):
    def name(self):
        return "train"

    def displayName(self):
        return "Train model"

    def icon(self):
        return QIcon(icon_path("train.svg"))

    def shortHelpString(self):
        return ("Trains a segmentation model from sparse labels (lines, polygons, points with a class "
                "id field) on one or more rasters, using more unlabeled rasters with semi-supervised methods, "
                "in the SemiSeg engine process. Writes a job folder with the model (model/) and the "
                "prediction of the first training raster: class raster and confidence raster.\n"
                "Training rasters and label layers: with one raster, every label layer labels it; with "
                "several rasters, give exactly one label layer per raster, in the same order (the first "
                "label layer labels the first raster, ...).\n"
                "Classes: \"name:#rrggbb, name:#rrggbb, ...\" in class id order (colors optional); "
                "empty = the class table of the SemiSeg dock saved in the project.\n"
                "Start from model: a model folder (JOB_DIR/model) of the same classes to train again from, "
                "e.g. after correcting labels where it was unsure.")

    def createInstance(self):
        return TrainAlgorithm()

    def initAlgorithm(self, config=None):
        # one or more rasters; a single raster layer or path is accepted as before
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "RASTER", "Training raster(s)", QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "LABELS", "Label layers", QgsProcessing.TypeVectorAnyGeometry))
        self.addParameter(QgsProcessingParameterString("CLASS_FIELD", "Class id field", CLASS_FIELD))
        self.addParameter(QgsProcessingParameterString("CLASSES", "Classes", "", optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "UNLABELED", "Unlabeled rasters", QgsProcessing.TypeRaster, optional=True))
        self.methods = offered_methods()  # each run is a new instance: the choice and its list agree
        self.addParameter(QgsProcessingParameterEnum("METHOD", "Method", self.methods, defaultValue=0))
        for key, label, default, low in (("STEPS", "Steps", job.DEFAULT_STEPS, 1),
                                         ("TILE_SIZE", "Tile size (px)", job.DEFAULT_TILE, 32),
                                         ("BATCH_SIZE", "Batch size", job.DEFAULT_BATCH, 1),
                                         ("LINE_WIDTH", "Scribble width (px)", 3, 1)):
            self.addParameter(QgsProcessingParameterNumber(key, label, QgsProcessingParameterNumber.Integer,
                                                           default, minValue=low))
        self.addParameter(QgsProcessingParameterFile("INIT_MODEL", "Start from model",
                                                     behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterFile("ENCODER_WEIGHTS", "Pretrained encoder (.safetensors, .pt, .pth)",
                                                     behavior=QgsProcessingParameterFile.File, optional=True))
        self.addParameter(QgsProcessingParameterBoolean("POLYGONS", "Class polygons too", defaultValue=False))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", "Device", list(job.DEVICES), defaultValue=0))
        self.addParameter(QgsProcessingParameterFolderDestination("JOB_DIR", "Job folder"))
        self.addOutput(QgsProcessingOutputFolder("MODEL", "Model folder"))
        self.addOutput(QgsProcessingOutputRasterLayer("CLASSES_RASTER", "Class raster"))
        self.addOutput(QgsProcessingOutputRasterLayer("CONFIDENCE_RASTER", "Confidence raster"))
        self.addOutput(QgsProcessingOutputVectorLayer("POLYGONS_LAYER", "Class polygons"))
        self.addOutput(QgsProcessingOutputVectorLayer("SUGGESTIONS_LAYER", "Where to label next"))
        self.addOutput(QgsProcessingOutputFile("AREAS_TABLE", "Class areas (JSON; a CSV of the same rows beside it)"))

    def prepareAlgorithm(self, parameters, context, feedback):
        """Check the inputs and write the job on the GUI thread: exporting the label layers reads
        their features (unsaved edits included), which must not race with the user's editing.

        A refusal is raised from processAlgorithm, where Processing passes its message on to
        processing.run's caller (from here it would only say "There were errors")."""
        try:
            self._prepared, self._refusal = self._write_job(parameters, context), None
        except QgsProcessingException as e:
            self._prepared, self._refusal = None, e
        return True

    def _write_job(self, parameters, context) -> tuple:
        rasters = self.parameterAsLayerList(parameters, "RASTER", context)
        labels = self.parameterAsLayerList(parameters, "LABELS", context)
        if not rasters:
            raise QgsProcessingException("Give at least one training raster.")
        for raster in rasters:
            if raster.providerType() != "gdal":
                raise QgsProcessingException(f"The training raster {raster.name()} must be a file GDAL can read.")
        if not labels:
            raise QgsProcessingException("Give at least one label layer.")
        if len(rasters) == 1:
            labeled = [job.LabeledRaster(rasters[0].source(), labels)]
        elif len(labels) == len(rasters):
            labeled = [job.LabeledRaster(r.source(), [l]) for r, l in zip(rasters, labels)]
        else:
            raise QgsProcessingException(
                f"{len(rasters)} training rasters but {len(labels)} label layers: with several rasters, give "
                "one label layer per raster, in the same order.")
        raster = rasters[0]  # the one predicted at the end
        spec = self.parameterAsString(parameters, "CLASSES", context)
        seg_classes = class_list.parse_spec(spec) if spec.strip() else \
            class_list.load_from_project(context.project())
        if len(seg_classes) < 2:
            raise QgsProcessingException("Give at least two classes (\"water:#1f78b4, land:#d9c89e\").")
        job_dir = Path(self.parameterAsString(parameters, "JOB_DIR", context))
        if JobDir(job_dir).spec.exists():
            raise QgsProcessingException(f"{job_dir} already holds a job; choose an empty folder.")
        device = job.DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)]
        polygons = self.parameterAsBoolean(parameters, "POLYGONS", context)
        try:
            init_from = job.start_model(self.parameterAsFile(parameters, "INIT_MODEL", context))
            encoder_weights = job.start_weights(self.parameterAsFile(parameters, "ENCODER_WEIGHTS", context), init_from)
        except ValueError as e:
            raise QgsProcessingException(str(e))
        unlabeled = self.parameterAsLayerList(parameters, "UNLABELED", context)
        try:
            job.check_tile_size(self.parameterAsInt(parameters, "TILE_SIZE", context))
            job.check_unlabeled_bands(raster.name(), raster.bandCount(), [(l.source(), l.bandCount()) for l in unlabeled])
        except ValueError as e:
            raise QgsProcessingException(str(e))
        request = job.JobRequest(
            classes=seg_classes, labeled=labeled,
            unlabeled=[l.source() for l in unlabeled],
            method=self.methods[self.parameterAsEnum(parameters, "METHOD", context)],
            steps=self.parameterAsInt(parameters, "STEPS", context),
            tile_size=self.parameterAsInt(parameters, "TILE_SIZE", context),
            batch_size=self.parameterAsInt(parameters, "BATCH_SIZE", context),
            line_width_px=self.parameterAsInt(parameters, "LINE_WIDTH", context),
            class_field=self.parameterAsString(parameters, "CLASS_FIELD", context), device=device,
            polygons=polygons, init_from=init_from, encoder_weights=encoder_weights)
        if job_dir.exists() and not any(job_dir.iterdir()):
            job_dir.rmdir()  # Processing creates the destination folder; write_job wants a new one
        try:
            args = engine.train_command(settings.engine_python(), job_dir, device)
            job.write_job(job_dir, request)
        except (OSError, ValueError, engine.EngineError) as e:
            raise QgsProcessingException(str(e))
        return args, job_dir, raster.source()

    def processAlgorithm(self, parameters, context, feedback):
        """Run the engine (in Processing's worker thread) and hand its outputs to Processing."""
        if self._refusal is not None:
            raise self._refusal
        args, job_dir, raster_source = self._prepared
        state = run_engine(args, job_dir, feedback)
        return {"MODEL": str(JobDir(job_dir).model), "JOB_DIR": str(job_dir),
                **load_outputs(job_dir, state, raster_source, f"SemiSeg {job_dir.name}", context)}
