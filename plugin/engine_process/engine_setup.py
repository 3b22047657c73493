"""Checking the engine (`semiseg doctor --json`) and installing it into a venv (a background task).

The engine's dependencies (PyTorch, rasterio, ...) must never load inside QGIS, so "Set up
engine" creates a separate virtual environment in the user's profile and pip-installs the
engine source bundled with the plugin, from PyPI or, offline, from a folder of wheels. Every
command's output goes to a log file; the venv counts as the engine only once the set-up completed.
"""
import json
import shutil
import subprocess  # nosec B404  # runs venv/pip with argv lists, never a shell
import sys
import tempfile
from pathlib import Path

from qgis.core import QgsTask

from ..common.paths import engine_source
from ..common.settings import READY_MARKER, managed_venv, venv_python, wheels_folder
from . import engine


def ask_doctor(python: str) -> tuple:
    """Run `semiseg doctor --json` (any thread): (the parsed report, '') or (None, what went wrong)."""
    try:
        result = engine.run(engine.command(python, "doctor", "--json"))
    except (OSError, subprocess.TimeoutExpired, engine.EngineError) as e:
        return None, str(e)
    if result.returncode != 0:
        return None, (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
    try:
        return json.loads(result.stdout), ""
    except ValueError:
        return None, "`semiseg doctor --json` did not print JSON: " + result.stdout[:200]


def verdict(report: dict, expected_version: str = "") -> str:
    """One line: is the engine ready, on what device, and if not, what to do."""
    found = report.get("semiseg", "?")
    missing = report.get("missing") or []
    if missing:
        return f"Engine {found} lacks {', '.join(missing)}: press \"Set up engine\"."
    if expected_version and found != expected_version:
        return (f"Engine {found} found, this plugin needs {expected_version} (it may lack options the "
                "plugin sends): press \"Set up engine\" to update it.")
    if report.get("cuda_available"):
        gpus = report.get("gpus") or ["a GPU"]
        device = f"GPU {gpus[0]}" if isinstance(gpus[0], str) else f"GPU {gpus[0].get('name', '')}".strip()
    else:
        device = f"CPU, {report.get('cpu_threads', '?')} threads (no GPU)"
    return f"Engine {found} ready · {device}"


def format_report(report: dict) -> str:
    """The doctor's JSON as "key: value" lines, nested objects flattened with dots (the details
    behind the verdict)."""
    lines = []

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        else:
            lines.append(f"{prefix[:-1]}: {value}")
    walk("", report)
    return "\n".join(lines)


def base_python(prefix: Path = None) -> str:
    """A Python to create the venv with (QGIS's sys.executable is QGIS itself): PREFIX/bin/python3
    on Linux and macOS, PREFIX\\python3.exe or python.exe on Windows (OSGeo4W's apps\\Python3x);
    `prefix`: this Python's sys.exec_prefix when not given."""
    prefix = Path(sys.exec_prefix if prefix is None else prefix)
    for candidate in (prefix / "bin" / "python3", prefix / "python3.exe", prefix / "python.exe"):
        if candidate.is_file():
            return str(candidate)
    return shutil.which("python3") or shutil.which("python") or ""


class SetupEngineTask(QgsTask):
    """Creates the managed venv and pip-installs the bundled engine into it, logging to `log`."""

    def __init__(self, venv: Path = None, source: Path = None, wheels: str = None):
        """`wheels`: a folder of wheels to install from instead of the network (pip --no-index)."""
        super().__init__("SemiSeg: set up engine", QgsTask.CanCancel)
        self.venv = Path(venv or managed_venv())
        self.source = Path(source or engine_source())
        self.wheels = wheels if wheels is not None else wheels_folder()
        self.log = self.venv.parent / "setup-log.txt"
        self.error = ""

    def run(self) -> bool:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if not (self.source / "pyproject.toml").is_file():
            self.error = f"The engine source is missing from the plugin: {self.source}"
            return False
        python = str(venv_python(self.venv))
        fresh = not self.venv.exists()  # a cancelled first set-up leaves no half-built engine behind
        (self.venv / READY_MARKER).unlink(missing_ok=True)  # not the engine until this set-up completes
        offline = ["--no-index", "--find-links", self.wheels] if self.wheels else []
        with tempfile.TemporaryDirectory() as tmp, open(self.log, "w") as log:
            # pip builds in the source tree; the installed plugin folder may be read-only.
            build = Path(tmp) / "engine"
            shutil.copytree(self.source, build, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
            steps = [[base_python(), "-m", "venv", str(self.venv)],
                     *([] if offline else [[python, "-m", "pip", "install", "--upgrade", "pip"]]),
                     [python, "-m", "pip", "install", *offline, str(build)]]
            for i, args in enumerate(steps):
                if self.isCanceled():
                    return self._cancelled(fresh)
                log.write("$ " + " ".join(args) + "\n")
                log.flush()
                process = subprocess.Popen(  # nosec B603  # an argv list, no shell: venv and pip of the chosen Python
                    args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
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
                    self.error = f"\"{' '.join(args[1:4])}\" failed: {_pip_error(self.log)} (log: {self.log})"
                    return False
        (self.venv / READY_MARKER).write_text("")
        return True

    def _cancelled(self, fresh: bool) -> bool:
        self.error = "cancelled"
        if fresh:
            shutil.rmtree(self.venv, ignore_errors=True)
        return False

    @property
    def python(self) -> str:
        return str(venv_python(self.venv))


def _pip_error(log: Path) -> str:
    """pip's own account of the failure (its last ERROR line: e.g. a build requirement not found offline)."""
    try:
        lines = [l.strip() for l in log.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return "see the log"
    errors = [l for l in lines if l.startswith("ERROR:")]
    return (errors or lines or ["see the log"])[0 if errors else -1]
