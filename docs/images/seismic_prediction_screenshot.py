"""Run inside QGIS by /work/shared/tools/qgis-screenshot: a section opened from SEG-Y, scribbled, trained, mapped.

    /work/shared/tools/qgis-screenshot build/semiseg_qgis docs/images/seismic_prediction.png \
        docs/images/seismic_prediction_screenshot.py --wait 420
Needs the engine at <repo>/.venv/bin/python (or $SEMISEG_ENGINE_PYTHON) and ../shared/data.
A SEG-Y volume is written from real TGS salt amplitudes (tests/engine/segy_volumes.py), inline
203 is opened with the dock's "Open SEG-Y", scribbled from a few rows of its salt mask, and
trained; the map comes back over the section at half opacity.
"""
import json
import os
import subprocess
import tempfile
from pathlib import Path

from qgis.PyQt.QtCore import Qt
from qgis.core import QgsGeometry, QgsPointXY, QgsProject, QgsVectorLayerUtils
from qgis.utils import plugins

REPO = Path(__file__).resolve().parents[2]
LINE = 203
MAKE_VOLUME = """
import json, sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from segy_volumes import tgs_patches, write_volume
amplitudes, masks = tgs_patches(8, 0.3, 0.6)
write_volume(Path(sys.argv[1]), amplitudes)
mask = masks[{index}]
strokes = []
for row in range(10, 101, 22):
    runs, start = [], 0
    for col in range(1, 102):
        if col == 101 or mask[row, col] != mask[row, start]:
            if col - start >= 16:
                strokes.append([int(mask[row, start]), start + (col - start) // 4, col - (col - start) // 4, row])
            start = col
print(json.dumps(strokes))
""".format(index=LINE - 200)


def run(iface):
    folder = Path(tempfile.mkdtemp(prefix="semiseg-seismic-"))
    python = os.environ.get("SEMISEG_ENGINE_PYTHON", str(REPO / ".venv" / "bin" / "python"))
    made = subprocess.run([python, "-c", MAKE_VOLUME, str(folder / "salt.sgy"), str(REPO / "tests" / "engine")],
                          capture_output=True, text=True, check=True)
    strokes = json.loads(made.stdout)
    plugin = plugins["semiseg_qgis"]
    plugin.action.setChecked(True)
    dock = plugin.dock
    dock.engine.python_edit.setFilePath(python)
    dock.engine.setCollapsed(True)
    iface.mainWindow().resizeDocks([dock], [430], Qt.Orientation.Horizontal)
    from semiseg_qgis.common.classes import SegClass
    from semiseg_qgis.segy.segy_dialog import SegySelection
    from semiseg_qgis.common import settings
    settings.set_jobs_folder(str(folder))

    def scribble_and_train(layers):
        dock.labels.class_table.set_classes([SegClass("sediment", "#8c6d31"), SegClass("salt", "#ffd92f")])
        scribbles = next(l for l in dock.new_label_layers(str(folder / "labels.gpkg")) if "scribbles" in l.name())
        scribbles.startEditing()
        for class_id, start, end, row in strokes:
            dock.labels.active_class.setCurrentIndex(class_id)
            line = QgsGeometry.fromPolylineXY([QgsPointXY(start, -row - 0.5), QgsPointXY(end, -row - 0.5)])
            scribbles.addFeature(QgsVectorLayerUtils.createFeature(scribbles, line, {}, scribbles.createExpressionContext()))
        scribbles.commitChanges()
        dock.options.steps.setValue(150)
        dock.options.tile_size.setValue(64)
        dock.options.batch_size.setValue(4)
        dock.options.device.setCurrentText("cpu")
        iface.mapCanvas().setExtent(layers[0].extent())
        task = dock.start_training()
        if task is None:
            raise RuntimeError(dock.runs.error_label.text())
        task.ended.connect(lambda state: show_map())

    def show_map():
        for layer in QgsProject.instance().mapLayers().values():
            if layer.name().endswith(" classes"):
                layer.setOpacity(0.5)
                layer.triggerRepaint()
            if layer.name().endswith(" confidence"):
                QgsProject.instance().layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(False)
        dock.runs.setCollapsed(False)

    dock.segy.opened.connect(scribble_and_train)
    if dock.open_segy(str(folder / "salt.sgy"), SegySelection(inlines=[LINE])) is None:
        raise RuntimeError(dock.runs.error_label.text())
