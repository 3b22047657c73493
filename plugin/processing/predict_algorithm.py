"""Processing algorithm "Predict": model folder + raster -> class raster and confidence raster."""
from pathlib import Path

from qgis.PyQt.QtGui import QIcon
from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingOutputFile, QgsProcessingOutputRasterLayer,
                       QgsProcessingOutputVectorLayer, QgsProcessingParameterBoolean, QgsProcessingParameterDefinition, QgsProcessingParameterEnum,
                       QgsProcessingParameterExtent, QgsProcessingParameterFile, QgsProcessingParameterFolderDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer)

from ..common import settings
from ..common.paths import icon_path
from ..engine_process import engine
from ..jobs import job
from ..maps import map_area
from .engine_run import load_outputs, run_engine


class PredictAlgorithm(QgsProcessingAlgorithm):
    def name(self):
        return "predict"

    def displayName(self):
        return "Predict"

    def icon(self):
        return QIcon(icon_path("predict.svg"))

    def shortHelpString(self):
        return ("Runs a trained SemiSeg model (a job's model/ folder) on a raster and writes the class "
                "raster and the confidence raster, styled, and the area of each class, into the output folder. With an extent, only "
                "the raster's pixels inside it are predicted. With polygons, also the classes as "
                "polygons (GeoPackage), regions under 16 pixels merged into a neighbour. Processes (advanced): "
                "GPUs sharing the raster's blocks. Run again into the same output folder, a stopped "
                "prediction resumes at its first unfinished block.")

    def createInstance(self):
        return PredictAlgorithm()

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterFile("MODEL", "Model folder",
                                                     behavior=QgsProcessingParameterFile.Folder))
        self.addParameter(QgsProcessingParameterRasterLayer("RASTER", "Raster"))
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Only this extent", optional=True))
        self.addParameter(QgsProcessingParameterBoolean("POLYGONS", "Class polygons too", defaultValue=False))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", "Device", list(job.DEVICES), defaultValue=0))
        # Processes sharing the raster's blocks (one per GPU); advanced: one is what a machine with one GPU or none wants.
        devices = QgsProcessingParameterNumber("DEVICES", "Processes (one per GPU)", QgsProcessingParameterNumber.Integer,
                                               defaultValue=1, minValue=1)
        devices.setFlags(devices.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(devices)
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_DIR", "Output folder"))
        self.addOutput(QgsProcessingOutputRasterLayer("CLASSES_RASTER", "Class raster"))
        self.addOutput(QgsProcessingOutputRasterLayer("CONFIDENCE_RASTER", "Confidence raster"))
        self.addOutput(QgsProcessingOutputVectorLayer("POLYGONS_LAYER", "Class polygons"))
        self.addOutput(QgsProcessingOutputVectorLayer("SUGGESTIONS_LAYER", "Where to label next"))
        self.addOutput(QgsProcessingOutputFile("AREAS_TABLE", "Class areas (JSON; a CSV of the same rows beside it)"))

    def processAlgorithm(self, parameters, context, feedback):
        raster = self.parameterAsRasterLayer(parameters, "RASTER", context)
        if raster is None or raster.providerType() != "gdal":
            raise QgsProcessingException("The raster must be a file GDAL can read.")
        out_dir = Path(self.parameterAsString(parameters, "OUTPUT_DIR", context))
        device = job.DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)]
        area = []
        extent = self.parameterAsExtent(parameters, "EXTENT", context, raster.crs())
        if not extent.isNull():  # an extent was given
            part = map_area.part_of_layer(extent, raster.crs(), raster, context.project())
            if part is None:
                raise QgsProcessingException(f"The extent does not overlap {raster.name()}.")
            area = map_area.bounds_args(part)
        polygons = self.parameterAsBoolean(parameters, "POLYGONS", context)
        try:
            args = engine.predict_command(settings.engine_python(), self.parameterAsFile(parameters, "MODEL", context),
                                          raster.source(), out_dir, device, area, polygons,
                                          self.parameterAsInt(parameters, "DEVICES", context))
        except engine.EngineError as e:
            raise QgsProcessingException(str(e))
        state = run_engine(args, out_dir, feedback, predict=True)
        return {"OUTPUT_DIR": str(out_dir),
                **load_outputs(out_dir, state, raster.source(), f"SemiSeg prediction {out_dir.name}", context)}
