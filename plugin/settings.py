"""User settings kept in QgsSettings (shared by every project of the profile)."""
import os
from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

_KEY = "semiseg/"


def managed_venv() -> Path:
    """The virtual environment "Set up engine" creates, inside the user's QGIS profile."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "semiseg" / "venv"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def engine_python() -> str:
    """The configured engine Python, else the managed venv's Python when it exists, else ''."""
    configured = QgsSettings().value(_KEY + "engine_python", "", type=str)
    if configured:
        return configured
    managed = venv_python(managed_venv())
    return str(managed) if managed.exists() else ""


def set_engine_python(path: str) -> None:
    QgsSettings().setValue(_KEY + "engine_python", path)


def jobs_folder() -> str:
    """Folder for new job directories; '' means next to the project file."""
    return QgsSettings().value(_KEY + "jobs_folder", "", type=str)


def set_jobs_folder(path: str) -> None:
    QgsSettings().setValue(_KEY + "jobs_folder", path)
