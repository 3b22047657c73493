"""Run inside QGIS by /work/shared/tools/qgis-screenshot: classes loaded from a classes.json (issue 41, item 13).

    /usr/bin/python3 scripts/build_plugin.py
    /work/shared/tools/qgis-screenshot build/semiseg_qgis docs/images/classes_loaded.png \
        docs/images/classes_screenshot.py --wait 15
A real Dubai tile, its set's classes.json read with the class table's "Load…" (names and
colours as the data defines them), then one class added by name ("tree": the table picks a
second green for it, not the next palette colour). Needs ../shared/data; no engine run.
"""
from pathlib import Path

from qgis.PyQt.QtWidgets import QScrollArea
from qgis.core import QgsProject, QgsRasterLayer
from qgis.utils import plugins

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "aerial-dubai"


def run(iface):
    raster = QgsRasterLayer(str(DATA / "images" / "dubai_t1_p001.tif"), "dubai_t1_p001")
    QgsProject.instance().addMapLayer(raster)
    iface.mapCanvas().setExtent(raster.extent())
    plugin = plugins["semiseg_qgis"]
    plugin.action.setChecked(True)
    dock = plugin.dock
    dock.labels.raster_combo.setLayer(raster)
    if not dock.labels.load_classes(str(DATA / "classes.json")):
        raise RuntimeError(dock.labels.notice.text())
    dock.labels.class_table.add_class("tree")
    dock.engine.setCollapsed(True)
    dock.labels.setCollapsed(False)
    for area in dock.findChildren(QScrollArea):
        area.verticalScrollBar().setValue(0)
