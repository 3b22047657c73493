"""Run inside QGIS by /work/shared/tools/qgis-screenshot: a real Dubai tile scribbled, mapped with
"Quick map", its class areas in the dock, and "Export map" writing docs/images/dubai_map.png.

    /work/shared/tools/qgis-screenshot build/semiseg_qgis docs/images/map_export.png \
        docs/images/dubai_map_screenshot.py --wait 240
Needs the engine at <repo>/.venv/bin/python (or $SEMISEG_ENGINE_PYTHON) and ../shared/data. The
scribbles are short strokes drawn from the tile's dense mask: every 60th row, the middle half of
each run of one class at least 16 pixels long, 3 px wide (about 2 % of the pixels).
"""
import os
import tempfile
from pathlib import Path

from osgeo import gdal
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QImage
from qgis.core import QgsGeometry, QgsPointXY, QgsProject, QgsRasterLayer, QgsVectorLayerUtils
from qgis.utils import plugins

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "aerial-dubai"
TILE = "dubai_t1_p001"
CLASSES = (("water", "#1f78b4"), ("land", "#d9c89e"), ("road", "#7f7f7f"), ("building", "#e31a1c"),
           ("vegetation", "#33a02c"))
EVERY_ROW, MIN_RUN = 60, 16


def strokes(mask_path):
    """(class, first column, last column, row) of each stroke, from the dense mask."""
    ds = gdal.Open(str(mask_path))
    width, height = ds.RasterXSize, ds.RasterYSize
    out = []
    for row in range(EVERY_ROW // 2, height, EVERY_ROW):
        values = ds.GetRasterBand(1).ReadRaster(0, row, width, 1)
        start = 0
        for col in range(1, width + 1):
            if col == width or values[col] != values[start]:
                if col - start >= MIN_RUN and values[start] < len(CLASSES):
                    out.append((values[start], start + (col - start) // 4, col - (col - start) // 4, row))
                start = col
    return out


def run(iface):
    folder = Path(tempfile.mkdtemp(prefix="semiseg-dubai-"))
    raster = QgsRasterLayer(str(DATA / "images" / f"{TILE}.tif"), TILE)
    QgsProject.instance().addMapLayer(raster)
    iface.mapCanvas().setExtent(raster.extent())
    plugin = plugins["semiseg_qgis"]
    plugin.action.setChecked(True)
    dock = plugin.dock
    python = os.environ.get("SEMISEG_ENGINE_PYTHON", str(REPO / ".venv" / "bin" / "python"))
    dock.engine.python_edit.setFilePath(python)
    iface.mainWindow().resizeDocks([dock], [430], Qt.Orientation.Horizontal)
    from semiseg_qgis.common import settings
    from semiseg_qgis.common.classes import SegClass
    settings.set_jobs_folder(str(folder))
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([SegClass(name, color) for name, color in CLASSES])
    scribbles = next(l for l in dock.new_label_layers(str(folder / "labels.gpkg")) if "scribbles" in l.name())
    x0, dx, _, y0, _, dy = gdal.Open(raster.source()).GetGeoTransform()
    scribbles.startEditing()
    for class_id, first, last, row in strokes(DATA / "labels" / f"{TILE}.tif"):
        dock.labels.active_class.setCurrentIndex(class_id)
        y = y0 + (row + 0.5) * dy
        line = QgsGeometry.fromPolylineXY([QgsPointXY(x0 + (first + 0.5) * dx, y), QgsPointXY(x0 + (last + 0.5) * dx, y)])
        scribbles.addFeature(QgsVectorLayerUtils.createFeature(scribbles, line, {}, scribbles.createExpressionContext()))
    scribbles.commitChanges()
    dock.options.device.setCurrentText("cpu")
    task = dock.start_training(quick=True)
    if task is None:
        raise RuntimeError(dock.runs.error_label.text())

    def export(state):
        if state.status != "completed":
            raise RuntimeError(state.error_text())
        for section in (dock.engine, dock.labels, dock.unlabeled, dock.options):
            section.setCollapsed(True)
        dock.map.title.setText(f"Dubai {TILE}: land cover from a Quick map of scribbles")
        written = dock.export_map(folder / "dubai_map.pdf")
        if not written:
            raise RuntimeError(dock.runs.error_label.text())
        image = QImage(str(written[1])).scaledToWidth(1400, Qt.TransformationMode.SmoothTransformation)
        image.save(str(REPO / "docs" / "images" / "dubai_map.png"))

    task.ended.connect(export)
