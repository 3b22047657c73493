"""The built plugin zip installs under its own name and its algorithms reach qgis_process."""
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_plugin.py"), "--dist", str(tmp / "dist"),
                    "--build", str(tmp / "build"), "--install", "--profile", str(tmp / "profile")], check=True)
    return tmp


def test_zip_holds_the_plugin_and_the_engine_source(built):
    archive, = (built / "dist").glob("semiseg-*.zip")
    names = set(zipfile.ZipFile(archive).namelist())
    for name in ("metadata.txt", "__init__.py", "dock.py", "processing/provider.py",
                 "resources/icons/semiseg.svg", "engine/pyproject.toml", "engine/src/semiseg/cli.py"):
        assert f"semiseg_qgis/{name}" in names
    assert not any("__pycache__" in n or n.startswith("semiseg/") for n in names)
    assert (built / "profile" / "python" / "plugins" / "semiseg_qgis" / "metadata.txt").is_file()


@pytest.mark.skipif(not shutil.which("qgis_process.bin") and not shutil.which("qgis_process"),
                    reason="qgis_process is not installed")
def test_qgis_process_lists_the_algorithms(built, tmp_path):
    # The Debian wrapper passes --noversioncheck, which qgis_process itself rejects: call the binary.
    qgis_process = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path),
               QGIS_PLUGINPATH=str(built / "build"))
    subprocess.run([qgis_process, "plugins", "enable", "semiseg_qgis"], env=env, check=True,
                   capture_output=True, timeout=120)
    listing = subprocess.run([qgis_process, "list"], env=env, check=True, capture_output=True, text=True,
                             timeout=120).stdout
    assert "semiseg:train" in listing and "semiseg:predict" in listing


def test_set_up_engine_says_when_the_bundle_lacks_the_engine(tmp_path):
    from semiseg_qgis.engine_process.engine_setup import SetupEngineTask
    task = SetupEngineTask(venv=tmp_path / "venv", source=tmp_path / "no-engine")
    assert task.run() is False
    assert "engine source is missing" in task.error
    assert not (tmp_path / "venv").exists()


def test_cancelling_the_first_set_up_says_so_and_leaves_no_half_built_engine(tmp_path):
    """A cancel while `python -m venv` runs is a cancel, not an "exit code -15" failure."""
    import threading
    from semiseg_qgis.engine_process.engine_setup import SetupEngineTask
    task = SetupEngineTask(venv=tmp_path / "venv", source=Path(__file__).parents[2] / "engine")
    runner = threading.Thread(target=task.run)
    runner.start()
    deadline = time.monotonic() + 120
    while not (tmp_path / "venv").exists():  # the first step has started creating it
        assert time.monotonic() < deadline and runner.is_alive(), task.error
        time.sleep(0.02)
    task.cancel()
    runner.join(120)
    assert task.error == "cancelled"
    assert not (tmp_path / "venv").exists()
