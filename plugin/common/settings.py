"""User settings kept in QgsSettings (shared by every project of the profile)."""
import hashlib
import os
from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

_KEY = "semiseg/"


def managed_venv() -> Path:
    """The virtual environment "Set up engine" creates, inside the user's QGIS profile."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "semiseg" / "venv"


def venv_python(venv: Path, windows: bool = None) -> Path:
    """A venv's Python: Scripts\\python.exe on Windows, bin/python elsewhere (`windows`: this
    machine's when not given)."""
    windows = os.name == "nt" if windows is None else windows
    return venv / ("Scripts/python.exe" if windows else "bin/python")


# Written into the managed venv when "Set up engine" has completed: a set-up that failed or was
# cancelled half-way leaves an environment that must never be taken for the engine.
READY_MARKER = ".semiseg-ready"
ENGINE_PYTHON_ENV = "SEMISEG_ENGINE_PYTHON"
WHEELS_ENV = "SEMISEG_WHEELS"


def engine_python() -> str:
    """The configured engine Python, else $SEMISEG_ENGINE_PYTHON, else the managed venv's Python
    when its set-up completed, else ''. The managed venv is never the engine while its last
    set-up has not completed, even where it was configured after an earlier one did."""
    configured = QgsSettings().value(_KEY + "engine_python", "", type=str) or os.environ.get(ENGINE_PYTHON_ENV, "")
    managed = managed_venv()
    ready = (managed / READY_MARKER).is_file()
    if configured and (ready or Path(configured) != venv_python(managed)):  # a later set-up that failed unmakes it
        return configured
    return str(venv_python(managed)) if ready else ""


def wheels_folder() -> str:
    """A folder of wheels "Set up engine" installs from without the network ($SEMISEG_WHEELS), or ''."""
    return QgsSettings().value(_KEY + "wheels_folder", "", type=str) or os.environ.get(WHEELS_ENV, "")


def set_engine_python(path: str) -> None:
    QgsSettings().setValue(_KEY + "engine_python", path)


def jobs_folder() -> str:
    """Folder for new job directories; '' means next to the project file."""
    return QgsSettings().value(_KEY + "jobs_folder", "", type=str)


def set_jobs_folder(path: str) -> None:
    QgsSettings().setValue(_KEY + "jobs_folder", path)


def _methods_key(python: str) -> str:
    # a path is not a settings key (its slashes would make groups): one key per engine Python;
    # a name, not a secret (sha1 kept so that saved keys stay the same)
    return _KEY + "methods/" + hashlib.sha1(python.encode(), usedforsecurity=False).hexdigest()[:16]


def saved_methods(python: str) -> str:
    """The engine `python`'s last `semiseg methods --json` answer (JSON text), or ''."""
    return QgsSettings().value(_methods_key(python), "", type=str) if python else ""


def save_methods(python: str, answer: str) -> None:
    """Kept so that Processing can offer the engine's methods at start-up without running it."""
    QgsSettings().setValue(_methods_key(python), answer)
