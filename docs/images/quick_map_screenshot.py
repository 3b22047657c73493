"""Run inside QGIS by /work/shared/tools/qgis-screenshot: the dock's "Quick map" on the dock screenshot's scene.

    /work/shared/tools/qgis-screenshot build/semiseg_qgis docs/images/quick_map.png \
        docs/images/quick_map_screenshot.py --wait 120
Needs the engine at <repo>/.venv/bin/python (or $SEMISEG_ENGINE_PYTHON).
"""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("dock_screenshot", Path(__file__).with_name("dock_screenshot.py"))
scene = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scene)


def run(iface):
    dock = scene.prepare(iface)
    if dock.start_training(quick=True) is None:
        raise RuntimeError(dock.runs.error_label.text())
