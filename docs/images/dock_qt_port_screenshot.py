"""Run inside QGIS by /work/shared/tools/qgis-screenshot: the dock after the Qt5/Qt6 port (issue 38),
classes, label layers and the Train buttons of the dock screenshot's scene, scrolled to the top.

    /work/shared/tools/qgis-screenshot build/semiseg_qgis docs/images/dock_qgis322_after_qt6_port.png \
        docs/images/dock_qt_port_screenshot.py --wait 15
Needs the engine at <repo>/.venv/bin/python (or $SEMISEG_ENGINE_PYTHON).
"""
import importlib.util
from pathlib import Path

from qgis.PyQt.QtWidgets import QScrollArea

_spec = importlib.util.spec_from_file_location("dock_screenshot", Path(__file__).with_name("dock_screenshot.py"))
scene = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scene)


def run(iface):
    dock = scene.prepare(iface)
    dock.engine.setCollapsed(False)
    for area in dock.findChildren(QScrollArea):
        area.verticalScrollBar().setValue(0)
