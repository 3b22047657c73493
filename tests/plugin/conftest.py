"""One QgsApplication (offscreen, throw-away profile) with Processing for all plugin tests.

The plugin source folder is imported under its installed name `semiseg_qgis`.
Tests that need the engine find its Python in $SEMISEG_ENGINE_PYTHON (default
<repo>/.venv/bin/python) and skip with a message when it is missing or not answering.
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.append("/usr/share/qgis/python/plugins")  # Processing

from qgis.PyQt.QtCore import QCoreApplication, QSettings  # noqa: E402
from qgis.core import QgsApplication, QgsProject  # noqa: E402

_PROFILE = tempfile.mkdtemp(prefix="semiseg-qgis-profile-")
# QgsSettings of the tests go to the throw-away profile, never to the user's.
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, _PROFILE)
QCoreApplication.setOrganizationName("semiseg-tests")
QCoreApplication.setApplicationName("semiseg-tests")
QGS = QgsApplication([], True, _PROFILE)
QgsApplication.setPrefixPath("/usr", True)
QGS.initQgis()

from processing.core.Processing import Processing  # noqa: E402

Processing.initialize()

_spec = importlib.util.spec_from_file_location("semiseg_qgis", REPO / "plugin" / "__init__.py",
                                               submodule_search_locations=[str(REPO / "plugin")])
semiseg_qgis = importlib.util.module_from_spec(_spec)
sys.modules["semiseg_qgis"] = semiseg_qgis
_spec.loader.exec_module(semiseg_qgis)

from semiseg_qgis.processing.provider import SemiSegProvider  # noqa: E402

PROVIDER = SemiSegProvider()
QgsApplication.processingRegistry().addProvider(PROVIDER)


def _engine_python() -> str:
    return os.environ.get("SEMISEG_ENGINE_PYTHON", str(REPO / ".venv" / "bin" / "python"))


@pytest.fixture(scope="session")
def engine_python():
    """The engine's Python, or skip: the engine must answer `semiseg.cli --help`."""
    python = _engine_python()
    if not Path(python).is_file():
        pytest.skip(f"no engine Python at {python} (set SEMISEG_ENGINE_PYTHON)")
    result = subprocess.run([python, "-m", "semiseg.cli", "--help"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"the engine at {python} does not answer `-m semiseg.cli --help`: "
                    f"{(result.stderr.strip().splitlines() or ['?'])[-1]}")
    from semiseg_qgis.common import settings
    settings.set_engine_python(python)
    return python


@pytest.fixture()
def project():
    """The project instance, emptied before and after each test."""
    project = QgsProject.instance()
    project.clear()
    yield project
    project.clear()


@pytest.fixture()
def dock(project, monkeypatch):
    """A dock with no engine configured: the tests that use it never start one."""
    from semiseg_qgis.common import settings
    from semiseg_qgis.dock.dock import SemiSegDock

    configured = settings.engine_python()
    settings.set_engine_python("")
    monkeypatch.delenv(settings.ENGINE_PYTHON_ENV, raising=False)
    dock = SemiSegDock()
    yield dock
    dock.dispose()
    dock.deleteLater()
    settings.set_engine_python(configured)
