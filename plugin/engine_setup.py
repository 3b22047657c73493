"""Background tasks that check the engine (`semiseg doctor --json`) and install it into a venv.

The engine's dependencies (PyTorch, rasterio, ...) must never load inside QGIS, so "Set up
engine" creates a separate virtual environment in the user's profile and pip-installs the
engine source bundled with the plugin. Every command's output goes to a log file.
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from qgis.core import QgsTask

from . import engine
from .paths import engine_source
from .settings import managed_venv, venv_python


class DoctorTask(QgsTask):
    """Runs `semiseg doctor --json`; `report` holds the parsed answer, `error` a message."""

    def __init__(self, python: str):
        super().__init__("SemiSeg: check engine", QgsTask.CanCancel)
        self.python, self.report, self.error = python, None, ""

    def run(self) -> bool:
        try:
            result = engine.run(engine.command(self.python, "doctor", "--json"))
        except (OSError, subprocess.TimeoutExpired, engine.EngineError) as e:
            self.error = str(e)
            return False
        if result.returncode != 0:
            self.error = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
            return False
        try:
            self.report = json.loads(result.stdout)
        except ValueError:
            self.error = "`semiseg doctor --json` did not print JSON: " + result.stdout[:200]
            return False
        return True


def format_report(report: dict, expected_version: str = "") -> str:
    """The doctor's JSON as "key: value" lines, nested objects flattened with dots; first a
    warning when the engine is not the version this plugin was built with (it may lack options
    the plugin sends)."""
    lines = []
    found = report.get("semiseg")
    if expected_version and found != expected_version:
        lines.append(f"The engine is version {found}, this plugin needs {expected_version}: "
                     "press \"Set up engine\" to update it.")

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        else:
            lines.append(f"{prefix[:-1]}: {value}")
    walk("", report)
    return "\n".join(lines)


def base_python() -> str:
    """A Python to create the venv with (QGIS's sys.executable is QGIS itself)."""
    prefix = Path(sys.exec_prefix)
    for candidate in (prefix / "bin" / "python3", prefix / "python3.exe", prefix / "python.exe"):
        if candidate.is_file():
            return str(candidate)
    return shutil.which("python3") or shutil.which("python") or ""


class SetupEngineTask(QgsTask):
    """Creates the managed venv and pip-installs the bundled engine into it, logging to `log`."""

    def __init__(self, venv: Path = None, source: Path = None):
        super().__init__("SemiSeg: set up engine", QgsTask.CanCancel)
        self.venv = Path(venv or managed_venv())
        self.source = Path(source or engine_source())
        self.log = self.venv.parent / "setup-log.txt"
        self.error = ""

    def run(self) -> bool:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if not (self.source / "pyproject.toml").is_file():
            self.error = f"The engine source is missing from the plugin: {self.source}"
            return False
        python = str(venv_python(self.venv))
        fresh = not self.venv.exists()  # a cancelled first set-up leaves no half-built engine behind
        with tempfile.TemporaryDirectory() as tmp, open(self.log, "w") as log:
            # pip builds in the source tree; the installed plugin folder may be read-only.
            build = Path(tmp) / "engine"
            shutil.copytree(self.source, build, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
            steps = [[base_python(), "-m", "venv", str(self.venv)],
                     [python, "-m", "pip", "install", "--upgrade", "pip"],
                     [python, "-m", "pip", "install", str(build)]]
            for i, args in enumerate(steps):
                if self.isCanceled():
                    return self._cancelled(fresh)
                log.write("$ " + " ".join(args) + "\n")
                log.flush()
                process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           env=engine.environment(), creationflags=engine.NO_WINDOW)
                while process.poll() is None:
                    if self.isCanceled():
                        process.terminate()
                    try:
                        process.wait(0.5)
                    except subprocess.TimeoutExpired:
                        pass
                self.setProgress(100.0 * (i + 1) / len(steps))
                if self.isCanceled():
                    return self._cancelled(fresh)
                if process.returncode != 0:
                    self.error = f"\"{' '.join(args[1:4])}\" failed (exit code {process.returncode}); see {self.log}"
                    return False
        return True

    def _cancelled(self, fresh: bool) -> bool:
        self.error = "cancelled"
        if fresh:
            shutil.rmtree(self.venv, ignore_errors=True)
        return False

    @property
    def python(self) -> str:
        return str(venv_python(self.venv))
