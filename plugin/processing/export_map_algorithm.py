"""Processing algorithm "Export map" (semiseg:exportmap): a class map as a print layout, in PDF and PNG.

The same layout as the dock's "Export map" (map_layout), for batch runs and qgis_process. The
class areas come from the engine (`semiseg stats`) so any SemiSeg class raster exports, whoever
added it. Layouts render on the GUI thread: the algorithm runs there.
"""
from pathlib import Path

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingOutputFile, QgsProcessingParameterBoolean,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString, QgsProcessingUtils, QgsProject)

from ..common import settings
from ..engine_process import engine
from ..maps import map_layout


class ExportMapAlgorithm(QgsProcessingAlgorithm):
    def name(self):
        return "exportmap"

    def displayName(self):
        return "Export map"

    def shortHelpString(self):
        return ("A print-ready map of a SemiSeg class raster over the raster it was predicted from: title, legend of "
                "the class names and colours, the area and share of each class, scale bar, north arrow, CRS and date "
                "(a map without a CRS, such as a seismic section, gets trace and sample axes instead), optionally the "
                "confidence map as an inset. Written as PDF and PNG, and kept in the project's layouts to edit.")

    def createInstance(self):
        return ExportMapAlgorithm()

    def flags(self):
        return super().flags() | QgsProcessingAlgorithm.FlagNoThreading

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("CLASSES", "Class raster (RASTER_classes.tif)"))
        self.addParameter(QgsProcessingParameterRasterLayer("SOURCE", "Raster it was predicted from (drawn under it)",
                                                            optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer("CONFIDENCE", "Confidence raster (inset)", optional=True))
        self.addParameter(QgsProcessingParameterString("TITLE", "Title", defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterBoolean("PNG", "Also a PNG beside the PDF", defaultValue=True))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT", "Map (PDF)", "PDF (*.pdf)"))
        self.addOutput(QgsProcessingOutputFile("PNG", "Map (PNG)"))

    def processAlgorithm(self, parameters, context, feedback):
        classes = self.parameterAsRasterLayer(parameters, "CLASSES", context)
        if classes is None or classes.providerType() != "gdal":
            raise QgsProcessingException("The class raster must be a file (a prediction's RASTER_classes.tif).")
        _style_from_engine(classes)
        confidence = self.parameterAsRasterLayer(parameters, "CONFIDENCE", context)
        if confidence is not None:
            _style_from_engine(confidence)
        pdf = Path(self.parameterAsFileOutput(parameters, "OUTPUT", context)).with_suffix(".pdf")
        rows = self._areas(classes, confidence, feedback)
        title = self.parameterAsString(parameters, "TITLE", context).strip() or classes.name()
        content = map_layout.MapContent(title, classes, self.parameterAsRasterLayer(parameters, "SOURCE", context),
                                        confidence, rows)
        project = context.project() or QgsProject()  # qgis_process without a project: the layout is not kept
        try:
            layout = map_layout.build_layout(project, content)
            written = map_layout.export_layout(layout, pdf, pdf.with_suffix(".png") if
                                               self.parameterAsBoolean(parameters, "PNG", context) else None)
        except OSError as e:
            raise QgsProcessingException(str(e))
        for path in written:
            feedback.pushInfo(f"Wrote {path}")
        return {"OUTPUT": str(pdf), "PNG": str(written[1]) if len(written) > 1 else None}

    def _areas(self, classes, confidence, feedback) -> list:
        """The whole-map class areas, from `semiseg stats` (its CSV and JSON in a temporary folder)."""
        out = Path(QgsProcessingUtils.tempFolder()) / f"{Path(classes.source()).stem}_areas.csv"
        try:
            args = engine.command(settings.engine_python(), "stats", classes.source(), "--out", str(out),
                                  *(["--confidence", confidence.source()] if confidence is not None else []))
            result = engine.run(args)
        except engine.EngineError as e:
            raise QgsProcessingException(str(e))
        if result.returncode != 0:
            raise QgsProcessingException((result.stderr.strip().splitlines() or ["semiseg stats failed"])[-1])
        feedback.pushInfo(f"Class areas: {out}")
        try:
            return map_layout.read_areas(out.with_suffix(".json"))
        except ValueError as e:
            raise QgsProcessingException(str(e))


def _style_from_engine(layer) -> None:
    """A layer Processing loaded from a file has QGIS's default style: the engine's QML beside it
    gives it the class names and colours (a project layer keeps the style it has)."""
    qml = Path(layer.source()).with_suffix(".qml")
    if not QgsProject.instance().mapLayer(layer.id()) and qml.is_file():
        layer.loadNamedStyle(str(qml))

