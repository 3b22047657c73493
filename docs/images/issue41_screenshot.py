"""Run inside QGIS by /work/shared/tools/qgis-screenshot: issue 41, items 10 and 3, in the real desktop.

SHOW=narrow: the dock at the width QGIS gives it on the right (measured as it opens; its width is
printed into the image's name-sake .txt), its Train and Jobs rows reached by the sideways scrollbar:
    SHOW=narrow OUT=docs/images/dock_default_width.png /work/shared/tools/qgis-screenshot build/semiseg_qgis \
        /tmp/full.png docs/images/issue41_screenshot.py --wait 12
SHOW=onnx: "Export ONNX…" of a blended package (BLEND_MODEL: a mean_teacher job's model folder with
forest_blend 0.75, trained by the engine): the question before any file is asked for, and the
notice under the button naming the forest left out and the two validation scores:
    SHOW=onnx BLEND_MODEL=/tmp/blendjob/model OUT=docs/images/onnx_blend_question.png \
        /work/shared/tools/qgis-screenshot build/semiseg_qgis /tmp/full.png docs/images/issue41_screenshot.py --wait 12
SHOW=loop: two Quick maps of one raster run by the engine one after the other; the Layers panel
keeps the newest group on top, the older collapsed and hidden (item 1):
    SHOW=loop OUT=docs/images/two_quick_maps.png /work/shared/tools/qgis-screenshot build/semiseg_qgis \
        /tmp/full.png docs/images/issue41_screenshot.py --wait 120
SHOW=segy: inline 120 of the real F3 crop opened from SEG-Y, two classes scribbled on it, trained,
then "Predict" with "the whole SEG-Y volume": the success notice naming the two .sgy files written,
and the section's class map on the canvas (item 2; minutes on 2 cores):
    SHOW=segy OUT=docs/images/segy_volume_predicted.png /work/shared/tools/qgis-screenshot build/semiseg_qgis \
        /tmp/full.png docs/images/issue41_screenshot.py --wait 400
OUT is cropped to the dock (and the question); the tool's own OUT.png is the whole window.
"""
import importlib.util
import os
from pathlib import Path

from qgis.PyQt.QtCore import QPoint, QRect, QTimer
from qgis.PyQt.QtGui import QGuiApplication
from qgis.PyQt.QtWidgets import QApplication, QScrollArea
from qgis.utils import plugins

_spec = importlib.util.spec_from_file_location("dock_screenshot", Path(__file__).with_name("dock_screenshot.py"))
scene = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scene)
OUT = os.environ["OUT"]


def screen_grab(rect: QRect) -> None:
    """The screen (dialogs included) inside `rect`, global coordinates."""
    QGuiApplication.primaryScreen().grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height()).save(OUT)


def dock_rect(dock) -> QRect:
    return QRect(dock.mapToGlobal(QPoint(0, 0)), dock.size())


def run(iface):
    plugin = plugins["semiseg_qgis"]
    plugin.action.setChecked(True)
    QApplication.processEvents()
    if os.environ.get("SHOW") == "segy":
        segy_volume(iface, plugin.dock)
        return
    width = plugin.dock.width()  # what QGIS 3.22 gives a dock on the right of a 1600 px window
    dock = scene.prepare(iface)  # (it widens the dock to 420 px for its own screenshots)
    iface.mainWindow().resizeDocks([dock], [width], scene.Qt.Orientation.Horizontal)
    if os.environ.get("SHOW") == "loop":
        loop(iface, dock)
        return
    if os.environ.get("SHOW") == "narrow":
        dock.labels.setCollapsed(False)
        dock.options.setCollapsed(True)
        dock.runs.setCollapsed(False)
        Path(OUT).with_suffix(".txt").write_text(f"dock width {width} px\n")

        def shoot():
            bar = dock.scroll.verticalScrollBar()
            bar.setValue(0)
            QApplication.processEvents()
            screen_grab(dock_rect(dock))
        QTimer.singleShot(6000, shoot)
        return
    dock.map.setCollapsed(False)
    dock.predict.model_dir.setFilePath(os.environ["BLEND_MODEL"])

    def shoot():
        box = QApplication.activeModalWidget()
        rect = dock_rect(dock).united(QRect(box.mapToGlobal(QPoint(0, 0)), box.size())) if box else dock_rect(dock)
        screen_grab(rect)
        if box is not None:
            box.reject()  # Cancel: nothing is written

    def press():
        dock.scroll.ensureWidgetVisible(dock.map.export_onnx_button)
        QTimer.singleShot(3000, shoot)  # runs inside the question's own event loop
        dock.map.export_onnx_button.click()
    QTimer.singleShot(3000, press)
    for area in dock.findChildren(QScrollArea):
        area.verticalScrollBar().setValue(0)


def loop(iface, dock):
    """Quick map, then Quick map again once the first one's maps are in; shot when both are."""
    from qgis.PyQt.QtWidgets import QDockWidget
    runs = []

    def tick():
        if dock.controller.busy():
            QTimer.singleShot(1000, tick)
        elif len(runs) < 2:
            runs.append(dock.start_training(quick=True))
            QTimer.singleShot(1000, tick)
        else:
            from qgis.core import QgsProject
            for node in QgsProject.instance().layerTreeRoot().findLayers():  # legends folded: the groups show
                node.setExpanded(False)
            layers = iface.mainWindow().findChild(QDockWidget, "Layers")
            iface.mainWindow().resizeDocks([layers], [460], scene.Qt.Orientation.Vertical)
            canvas = iface.mapCanvas()
            rect = QRect(layers.mapToGlobal(QPoint(0, 0)), layers.size()).united(
                QRect(canvas.mapToGlobal(QPoint(0, 0)), canvas.size()))
            QTimer.singleShot(2000, lambda: screen_grab(rect))
    tick()


F3 = scene.REPO.parent / "shared" / "data" / "seismic-segy" / "f3_crop.sgy"


def segy_volume(iface, dock):
    """Open inline 120, scribble, train, predict the whole volume; shot when the prediction ends."""
    import tempfile
    from qgis.core import QgsPointXY
    from semiseg_qgis.common.classes import SegClass
    from semiseg_qgis.segy.segy_dialog import SegySelection
    folder = Path(tempfile.mkdtemp(prefix="semiseg-segy-"))
    dock.engine.python_edit.setFilePath(os.environ.get("SEMISEG_ENGINE_PYTHON", str(scene.REPO / ".venv" / "bin" / "python")))
    dock.engine.setCollapsed(True)

    def label_and_train():
        section = dock.labels.raster_combo.currentLayer()
        dock.labels.class_table.set_classes([SegClass("shallow", "#1b9e77"), SegClass("deep", "#d95f02")])
        scribbles = next(l for l in dock.new_label_layers(str(folder / "labels.gpkg")) if "scribbles" in l.name())
        scribbles.startEditing()
        # traces 1-16 (x = trace, y = -sample) at two depths for each class
        scene.draw_strokes(dock, scribbles, {k: [[QgsPointXY(1, -row), QgsPointXY(16, -row)] for row in rows]
                                             for k, rows in enumerate(((8, 20), (50, 64)))})
        scene.cpu_training(dock, steps=120, tile=32, batch=2)
        dock.start_training(folder / "job")
        return section

    def predict_volume(section):
        dock.predict.predict_raster.setLayer(section)
        dock.predict.whole_volume.setChecked(True)
        dock.predict.axis.setCurrentIndex(dock.predict.axis.findData("inline"))
        dock.start_prediction(folder / "volume")

    def shoot():
        for section in (dock.labels, dock.unlabeled, dock.options, dock.map):
            section.setCollapsed(True)
        dock.predict.setCollapsed(False)
        dock.runs.setCollapsed(False)
        iface.mainWindow().resizeDocks([dock], [440], scene.Qt.Orientation.Horizontal)
        QApplication.processEvents()
        dock.scroll.horizontalScrollBar().setValue(0)
        dock.scroll.ensureWidgetVisible(dock.predict.notice)
        QApplication.processEvents()
        canvas = iface.mapCanvas()
        screen_grab(dock_rect(dock).united(QRect(canvas.mapToGlobal(QPoint(0, 0)), canvas.size())))

    def tick():
        """Each stage starts once the engine run before it has ended (the sections' cut included)."""
        if dock.controller.busy() or dock.segy.task is not None:
            QTimer.singleShot(1000, tick)
            return
        stage = stages.pop(0)
        stage()
        if stages:
            QTimer.singleShot(1000, tick)
    section = []
    stages = [lambda: dock.open_segy(str(F3), SegySelection(inlines=[120])),
              lambda: section.append(label_and_train()),
              lambda: predict_volume(section[0]),
              lambda: QTimer.singleShot(3000, shoot)]
    tick()
