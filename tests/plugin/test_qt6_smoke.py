"""Under PyQt6 every plugin module imports and the widgets that need no QGIS object build.

QGIS 4 runs plugins on PyQt6. Without a QGIS 4 here, a child /usr/bin/python3 (this pytest
process has PyQt5 loaded, and the two cannot share a process) imports the plugin as
`semiseg_qgis` through tests/plugin/qt6_shim/: a stand-in `qgis` package whose `qgis.PyQt`
is PyQt6 and whose `qgis.core`/`qgis.gui` are placeholders. That catches what only runs:
default arguments and class bodies evaluated at import (`align=Qt.AlignLeft`), and the Qt
calls of the QGIS-free widgets' constructors (class table, SEG-Y dialog, method form, jobs
list) with their PyQt6 signatures and enums, offscreen.

It is checked against Qt6, not tested on QGIS 4: QGIS's own classes are not real here.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INSTALL_HINT = ("PyQt6 is not importable by /usr/bin/python3: install python3-pyqt6 "
                "(`make system-deps` or `apt-get install python3-pyqt6`) to run the Qt6 checks")

_SMOKE = r"""
import importlib, importlib.util, json, sys, traceback
from pathlib import Path
shim, repo = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, shim)
try:
    from PyQt6.QtWidgets import QApplication
except ImportError as e:
    print(e, file=sys.stderr)
    sys.exit(3)
import qgis.PyQt.QtCore
assert qgis.PyQt.QtCore.__file__.startswith(shim), "the real qgis was imported, not the shim"
spec = importlib.util.spec_from_file_location("semiseg_qgis", repo / "plugin" / "__init__.py",
                                              submodule_search_locations=[str(repo / "plugin")])
package = importlib.util.module_from_spec(spec)
sys.modules["semiseg_qgis"] = package
spec.loader.exec_module(package)
failures, done = [], []

def attempt(what, run):
    try:
        run()
        done.append(what)
    except Exception:
        failures.append(f"{what}:\n{traceback.format_exc(limit=-2)}")

for path in sorted((repo / "plugin").rglob("*.py")):
    parts = path.relative_to(repo / "plugin").with_suffix("").parts
    name = ".".join(("semiseg_qgis",) + (parts[:-1] if parts[-1] == "__init__" else parts))
    attempt("import " + name, lambda: importlib.import_module(name))
app = QApplication([])

def class_table():
    from semiseg_qgis.dock.class_table import ClassTable
    table = ClassTable()
    table.add_class("sand", "#ffcc00")
    table.add_class()
    assert [c.name for c in table.classes()] == ["sand", "class 2"], table.classes()

def segy_dialog():
    from semiseg_qgis.segy.segy_dialog import OpenSegyDialog
    axis = {"first": 100, "last": 300, "step": 2}
    info = {"kind": "3D volume", "inlines": axis, "crosslines": axis, "traces": 10201, "samples": 462,
            "sample_interval": 4.0, "first_sample": 0.0, "last_sample": 1844.0, "format": 5, "endian": "big"}
    dialog = OpenSegyDialog("f3.sgy", info)
    assert dialog.selection().inlines == [200]

def method_forms():
    from semiseg_qgis.dock.method_form import MethodForm
    methods = json.loads((repo / "tests" / "plugin" / "engine_methods.json").read_text())["methods"]
    form = MethodForm()
    form.set_class_names(["sand", "shale"])
    for method in methods.values():
        form.set_schema(method["parameters"])
        form.set_class_names(["sand", "shale"])
        assert form.values() == {}, form.values()

def jobs_section():
    from semiseg_qgis.dock.jobs_section import JobsSection
    import tempfile
    section = JobsSection()
    section.show_error("engine said no")
    jobs = [Path(tempfile.mkdtemp(prefix="semiseg-qt6-job-")) for _ in range(2)]
    section.fill(jobs)  # list lines with state and disk use, the newest shown
    section.refresh_states()
    assert section.jobs.count() == 2 and section.current_job == jobs[-1]

for what, run in (("ClassTable", class_table), ("OpenSegyDialog", segy_dialog),
                  ("MethodForm", method_forms), ("JobsSection", jobs_section)):
    attempt(what, run)
print(json.dumps({"failures": failures, "done": done}))
"""


@pytest.fixture(scope="module")
def smoke() -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)  # /usr/share/qgis/python would bring the real qgis (PyQt5) back
    result = subprocess.run([sys.executable, "-c", _SMOKE, str(HERE / "qt6_shim"), str(REPO)],
                            capture_output=True, text=True, env=env, timeout=300)
    if result.returncode == 3:
        pytest.fail(INSTALL_HINT + f" ({result.stderr.strip()})", pytrace=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_module_imports_under_pyqt6(smoke):
    imports = [f for f in smoke["failures"] if f.startswith("import ")]
    if imports:
        pytest.fail("\n".join(imports), pytrace=False)
    modules = [d for d in smoke["done"] if d.startswith("import ")]
    assert len(modules) == len(list((REPO / "plugin").rglob("*.py")))


def test_qgis_free_widgets_build_under_pyqt6(smoke):
    widgets = [f for f in smoke["failures"] if not f.startswith("import ")]
    if widgets:
        pytest.fail("\n".join(widgets), pytrace=False)
    assert {"ClassTable", "OpenSegyDialog", "MethodForm", "JobsSection"} <= set(smoke["done"])
