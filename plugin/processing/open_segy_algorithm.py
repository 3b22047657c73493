"""Processing algorithm "Open SEG-Y": inlines, crosslines and time slices of a volume as rasters."""
from pathlib import Path

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingContext, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface, QgsProcessingOutputMultipleLayers, QgsProcessingParameterCrs, QgsProcessingParameterFile,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterString)

from ..common import settings
from ..engine_process import engine
from ..segy import segy
from .engine_run import keep_alive


class OpenSegyAlgorithm(QgsProcessingAlgorithm):
    def name(self):
        return "opensegy"

    def displayName(self):
        return "Open SEG-Y"

    def shortHelpString(self):
        return ("Cuts inline and crossline sections and time/depth slices of a SEG-Y volume (or a 2D line) into "
                "GeoTIFFs and loads them, styled with the seismic red-white-blue ramp. Lines: numbers separated "
                "by spaces or commas, or \"every 10\". A section has no CRS: it is drawn one unit per trace across "
                "and one per sample down; a slice lies on the map at its traces' CDP X/Y, in the CRS given.")

    def createInstance(self):
        return OpenSegyAlgorithm()

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterFile("VOLUME", "SEG-Y volume or line", extension=""))
        self.addParameter(QgsProcessingParameterString("INLINES", "Inlines", defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterString("CROSSLINES", "Crosslines", defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterString("TIME_SLICES", "Time or depth slices", defaultValue="",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterCrs("CRS", "CRS of the CDP X/Y (for slices)", optional=True))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_DIR", "Output folder"))
        self.addOutput(QgsProcessingOutputMultipleLayers("LAYERS", "Sections and slices"))

    def processAlgorithm(self, parameters, context, feedback):
        volume = self.parameterAsFile(parameters, "VOLUME", context)
        out_dir = Path(self.parameterAsString(parameters, "OUTPUT_DIR", context))
        every, chosen = {}, {}
        try:
            for key, what, axis in (("INLINES", "Inlines", "inline"), ("CROSSLINES", "Crosslines", "crossline"),
                                    ("TIME_SLICES", "Time slices", "time")):
                chosen[axis], step = segy.parse_numbers(self.parameterAsString(parameters, key, context), what)
                if step:
                    every[axis] = step
            crs = self.parameterAsCrs(parameters, "CRS", context)
            args = segy.sections_command(settings.engine_python(), volume, out_dir, chosen["inline"],
                                         chosen["crossline"], chosen["time"], every, crs.authid() if crs.isValid() else "")
        except (ValueError, engine.EngineError) as e:
            raise QgsProcessingException(str(e))
        feedback.pushInfo("Running: " + " ".join(args))
        done = engine.run(args, timeout_s=24 * 3600)
        if done.returncode != 0:
            lines = [l for l in done.stderr.splitlines() if l.strip()]
            raise QgsProcessingException(lines[-1].removeprefix("semiseg: error: ") if lines else
                                         f"The engine stopped with exit code {done.returncode}.")
        paths = segy.written_rasters(done.stdout)
        if context.project() is not None:
            for path in paths:
                details = QgsProcessingContext.LayerDetails(path.stem, context.project(), "LAYERS")
                details.setPostProcessor(keep_alive(_SeismicStyle(path.with_suffix(".qml"))))
                context.addLayerToLoadOnCompletion(str(path), details)
        return {"OUTPUT_DIR": str(out_dir), "LAYERS": [str(p) for p in paths]}


class _SeismicStyle(QgsProcessingLayerPostProcessorInterface):
    """Gives a loaded section the style the engine wrote beside it (Processing loads no default style)."""

    def __init__(self, qml: Path):
        super().__init__()
        self.qml = qml

    def postProcessLayer(self, layer, context, feedback):
        if self.qml.is_file():
            layer.loadNamedStyle(str(self.qml))
            layer.triggerRepaint()
