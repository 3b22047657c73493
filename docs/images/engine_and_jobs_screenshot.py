"""Run inside QGIS by /work/shared/tools/qgis-screenshot: the engine's status line and the Jobs section.

    /work/shared/tools/qgis-screenshot build/semiseg_qgis /tmp/main_window.png \
        docs/images/engine_and_jobs_screenshot.py --wait 150
A Quick map completes, then a training is cancelled after a few steps: the Jobs list, open, shows
each job's state and disk use (the cancelled one keeps its checkpoint for Resume; the completed
ones dropped theirs), the Engine section's title the engine's verdict. The list is a popup, which
a grab of the main window leaves out: this script grabs the screen into
docs/images/engine_and_jobs.png itself. Needs the engine at <repo>/.venv/bin/python (or
$SEMISEG_ENGINE_PYTHON).
"""
import importlib.util
from pathlib import Path

from qgis.PyQt.QtCore import QTimer

_spec = importlib.util.spec_from_file_location("dock_screenshot", Path(__file__).with_name("dock_screenshot.py"))
scene = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scene)


def run(iface):
    dock = scene.prepare(iface)
    dock.engine.setCollapsed(False)
    quick = dock.start_training(quick=True)
    if quick is None:
        raise RuntimeError(dock.runs.error_label.text())

    def train_then_cancel(_state):
        dock.options.steps.setValue(2000)
        task = dock.start_training()
        if task is None:
            raise RuntimeError(dock.runs.error_label.text())
        task.stateChanged.connect(lambda state: state.step >= 3 and dock.controller.task_of(task.job_dir) is task and dock.cancel())
        task.ended.connect(lambda _s: QTimer.singleShot(500, lambda: show_jobs(dock)))

    quick.ended.connect(train_then_cancel)


def show_jobs(dock):
    """The Jobs section in view, its list open, below the Engine section's verdict."""
    from qgis.PyQt.QtWidgets import QScrollArea
    from qgis.gui import QgsCollapsibleGroupBox

    for group in dock.findChildren(QgsCollapsibleGroupBox):
        group.setCollapsed(group not in (dock.engine, dock.runs))
    dock.findChild(QScrollArea).ensureWidgetVisible(dock.runs.jobs)
    dock.runs.jobs.showPopup()
    QTimer.singleShot(1500, grab_screen)


def grab_screen():
    from qgis.PyQt.QtWidgets import QApplication

    frame = iface_window().frameGeometry()  # the main window and the popup over it, not the whole screen
    QApplication.primaryScreen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height()).save(
        str(Path(__file__).with_name("engine_and_jobs.png")))


def iface_window():
    from qgis.utils import iface

    return iface.mainWindow()
