"""Run inside QGIS by /work/shared/tools/qgis-screenshot: a seismic mosaic without CRS picked in the dock.

    /work/shared/tools/qgis-screenshot build/semiseg_qgis docs/images/seismic_section.png \
        docs/images/seismic_section_screenshot.py --wait 20
A new project (EPSG:4326), a TGS salt mosaic (no CRS, no geotransform) from ../shared/data: the
dock says how it treats such a raster and brings it into view instead of a 1:200,000,000 speck.
"""
from pathlib import Path

from qgis.PyQt.QtCore import Qt
from qgis.core import QgsProject, QgsRasterLayer
from qgis.utils import plugins

MOSAIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "seismic-tgs-salt" / "images" / "salt_mosaic_00.tif"


def run(iface):
    layer = QgsRasterLayer(str(MOSAIC), "salt_mosaic_00")
    if not layer.isValid():
        raise RuntimeError(f"cannot read {MOSAIC}")
    QgsProject.instance().addMapLayer(layer)
    plugin = plugins["semiseg_qgis"]
    plugin.action.setChecked(True)
    dock = plugin.dock
    dock.engine.setCollapsed(True)
    dock.labels.raster_combo.setLayer(None)
    dock.labels.raster_combo.setLayer(layer)
    iface.mainWindow().resizeDocks([dock], [420], Qt.Orientation.Horizontal)
