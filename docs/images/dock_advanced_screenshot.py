"""Run inside QGIS by /work/shared/tools/qgis-screenshot: the dock's Advanced section with the
parameter form of a method, as generated from the engine's `semiseg methods --json`, and a
pretrained encoder file (`semiseg weights`) picked.

    python3 scripts/build_plugin.py --build /tmp/semiseg-build --dist /tmp/semiseg-dist
    /work/shared/tools/qgis-screenshot /tmp/semiseg-build/semiseg_qgis docs/images/dock_advanced.png \
        docs/images/dock_advanced_screenshot.py --wait 25
    SHOW=encoder_weights /work/shared/tools/qgis-screenshot /tmp/semiseg-build/semiseg_qgis \
        docs/images/pretrained_encoder.png docs/images/dock_advanced_screenshot.py --wait 25
Needs the engine at <repo>/.venv/bin/python (or $SEMISEG_ENGINE_PYTHON).
"""
import os
import tempfile
from pathlib import Path

from qgis.PyQt.QtCore import QTimer, Qt
from qgis.core import QgsProject, QgsRasterLayer
from qgis.utils import plugins

REPO = Path(__file__).resolve().parents[2]


def _scene(folder):
    from osgeo import gdal, osr
    ds = gdal.GetDriverByName("GTiff").Create(str(folder / "orthophoto.tif"), 64, 64, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((600000.0, 1.0, 0, 5400000.0, 0, -1.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(3):
        ds.GetRasterBand(b + 1).Fill((60, 120, 90)[b])
    ds = None
    return folder / "orthophoto.tif"


def run(iface):
    folder = Path(tempfile.mkdtemp(prefix="semiseg-screenshot-"))
    raster = QgsRasterLayer(str(_scene(folder)), "orthophoto")
    QgsProject.instance().addMapLayer(raster)
    plugin = plugins["semiseg_qgis"]
    plugin.action.setChecked(True)
    dock = plugin.dock
    dock.engine.python_edit.setFilePath(os.environ.get("SEMISEG_ENGINE_PYTHON", str(REPO / ".venv" / "bin" / "python")))
    dock.engine.setCollapsed(True)
    dock.labels.raster_combo.setLayer(raster)
    from semiseg_qgis.common.classes import SegClass
    dock.labels.class_table.set_classes([SegClass("water", "#1f78b4"), SegClass("field", "#e6c86e"),
                                  SegClass("forest", "#33a02c")])
    iface.mainWindow().resizeDocks([dock], [430], Qt.Orientation.Horizontal)
    iface.mapCanvas().setExtent(raster.extent())

    def show_form():
        if dock.options.methods_task is not None:  # the engine is still answering
            QTimer.singleShot(500, show_form)
            return
        if dock.options.method.findData("cct") < 0:
            raise RuntimeError("the engine did not list cct: " + dock.options.method_note.text())
        dock.options.method.setCurrentIndex(dock.options.method.findData("cct"))
        form = dock.options.method_form
        form.field("distance").widget.setCurrentText("kl")
        form.field("decoders.vat").widget.setValue(2)
        form.field("background").widget.item(1).setCheckState(Qt.CheckState.Checked)
        dock.options.encoder_weights.setFilePath(str(folder / "resnet18_imagenet.safetensors"))
        for group in dock.widget().widget().findChildren(type(dock.engine)):
            group.setCollapsed(group is not dock.options)
        dock.options.setCollapsed(False)
        # SHOW=encoder_weights: the lower rows (docs/images/pretrained_encoder.png)
        shown = getattr(dock.options, os.environ.get("SHOW", "method"))
        dock.widget().ensureWidgetVisible(shown, 0, 40 if shown is not dock.options.method else 0)
    show_form()
