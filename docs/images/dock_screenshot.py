"""Run inside QGIS by /work/shared/tools/qgis-screenshot: a labelled scene trained with the dock.

    /work/shared/tools/qgis-screenshot build/semiseg_qgis docs/images/dock.png \
        docs/images/dock_screenshot.py --wait 300
SHOW=top: the scene ready to train, nothing started, the dock scrolled to its top with the Engine
section open (docs/images/dock_qgis322_after_qt6_port.png, the dock after the Qt5/Qt6 port):
    SHOW=top /work/shared/tools/qgis-screenshot build/semiseg_qgis docs/images/dock_qgis322_after_qt6_port.png \
        docs/images/dock_screenshot.py --wait 25
Needs the engine at <repo>/.venv/bin/python (or $SEMISEG_ENGINE_PYTHON).
"""
import math
import os
import tempfile
from pathlib import Path

from osgeo import gdal, osr
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QScrollArea
from qgis.core import QgsGeometry, QgsPointXY, QgsProject, QgsRasterLayer, QgsVectorLayerUtils
from qgis.utils import plugins

REPO = Path(__file__).resolve().parents[2]
SIZE, PIXEL, X0, Y0 = 320, 1.0, 600000.0, 5400000.0


def river_x(row):
    return SIZE * 0.45 + 40 * math.sin(row / 45.0)


def make_scene(path):
    ds = gdal.GetDriverByName("GTiff").Create(str(path), SIZE, SIZE, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((X0, PIXEL, 0, Y0, 0, -PIXEL))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    colors = {"water": (40, 90, 150), "field": (205, 190, 140), "forest": (45, 100, 50)}
    bands = [bytearray(SIZE * SIZE) for _ in range(3)]
    for row in range(SIZE):
        for col in range(SIZE):
            if abs(col - river_x(row)) < 18:
                kind = "water"
            elif (col - 250) ** 2 + (row - 80) ** 2 < 55 ** 2 or (col < 70 and row > 200):
                kind = "forest"
            else:
                kind = "field"
            noise = (col * 37 + row * 91 + (col * row) % 17) % 25 - 12
            for b in range(3):
                bands[b][row * SIZE + col] = max(0, min(255, colors[kind][b] + noise))
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteRaster(0, 0, SIZE, SIZE, bytes(bands[b]))
    ds = None


def xy(col, row):
    return QgsPointXY(X0 + col * PIXEL, Y0 - row * PIXEL)


def run(iface):
    if os.environ.get("SHOW") == "top":
        dock = prepare(iface)
        dock.engine.setCollapsed(False)
        for area in dock.findChildren(QScrollArea):
            area.verticalScrollBar().setValue(0)
        return
    task = prepare(iface).start_training()
    if task is None:
        raise RuntimeError(plugins["semiseg_qgis"].dock.runs.error_label.text())


def draw_strokes(dock, scribbles, strokes: dict) -> None:
    """Each class's lines (map points) into the scribbles layer, drawn as the add-feature tool
    does with that class active in the dock; committed."""
    for class_id, lines in strokes.items():
        dock.labels.active_class.setCurrentIndex(class_id)
        for line in lines:
            scribbles.addFeature(QgsVectorLayerUtils.createFeature(scribbles, QgsGeometry.fromPolylineXY(line), {},
                                                                   scribbles.createExpressionContext()))
    scribbles.commitChanges()


def cpu_training(dock, steps: int, tile: int, batch: int) -> None:
    """A short training on the CPU, sized for a screenshot on 2 cores."""
    dock.options.steps.setValue(steps)
    dock.options.tile_size.setValue(tile)
    dock.options.batch_size.setValue(batch)
    dock.options.device.setCurrentText("cpu")


def prepare(iface):
    """The scene, its classes and scribbles in the dock, ready to train; returns the dock."""
    folder = Path(tempfile.mkdtemp(prefix="semiseg-screenshot-"))
    make_scene(folder / "orthophoto.tif")
    raster = QgsRasterLayer(str(folder / "orthophoto.tif"), "orthophoto")
    QgsProject.instance().addMapLayer(raster)
    plugin = plugins["semiseg_qgis"]
    plugin.action.setChecked(True)
    dock = plugin.dock
    python = os.environ.get("SEMISEG_ENGINE_PYTHON", str(REPO / ".venv" / "bin" / "python"))
    dock.engine.python_edit.setFilePath(python)
    dock.engine.setCollapsed(True)
    dock.labels.raster_combo.setLayer(raster)
    from semiseg_qgis.common.classes import SegClass
    dock.labels.class_table.set_classes([SegClass("water", "#1f78b4"), SegClass("field", "#e6c86e"),
                                  SegClass("forest", "#33a02c")])
    layers = dock.new_label_layers(str(folder / "labels.gpkg"))
    scribbles = next(l for l in layers if "scribbles" in l.name())
    scribbles.startEditing()
    strokes = {0: [[(river_x(r), r) for r in range(10, 120, 10)], [(river_x(r) + 4, r) for r in range(190, 310, 10)]],
               1: [[(120, 240), (170, 260), (200, 300)], [(20, 40), (80, 30), (110, 90)], [(300, 200), (280, 300)]],
               2: [[(230, 60), (260, 90), (280, 100)], [(15, 240), (40, 300)]]}
    draw_strokes(dock, scribbles, {k: [[xy(c, r) for c, r in line] for line in lines] for k, lines in strokes.items()})
    cpu_training(dock, steps=80, tile=64, batch=4)
    dock.options.polygons.setChecked(True)  # the class polygons come back too
    QgsProject.instance().setFileName(str(folder / "project.qgz"))
    iface.mapCanvas().setExtent(raster.extent())
    iface.mainWindow().resizeDocks([dock], [420], Qt.Orientation.Horizontal)
    return dock
