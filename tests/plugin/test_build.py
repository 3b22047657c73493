"""The built plugin zip installs under its own name and its algorithms reach qgis_process; install-plugin
finds the QGIS 3 and QGIS 4 profiles of each platform."""
import configparser
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("build_plugin", REPO / "scripts" / "build_plugin.py")
build_plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_plugin)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_plugin.py"), "--dist", str(tmp / "dist"),
                    "--build", str(tmp / "build"), "--install", "--profile", str(tmp / "profile")], check=True)
    return tmp


def test_zip_holds_the_plugin_and_the_engine_source(built):
    archive, = (built / "dist").glob("semiseg-*.zip")
    names = set(zipfile.ZipFile(archive).namelist())
    for name in ("metadata.txt", "LICENSE", "__init__.py", "dock/dock.py", "processing/provider.py",
                 "resources/icons/semiseg.svg", "engine/pyproject.toml", "engine/src/semiseg/cli.py"):
        assert f"semiseg_qgis/{name}" in names
    assert not any("__pycache__" in n or n.startswith("semiseg/") for n in names)
    assert not any(part.startswith(".") for n in names for part in n.split("/"))
    assert (built / "profile" / "python" / "plugins" / "semiseg_qgis" / "metadata.txt").is_file()
    assert (built / "profile" / "python" / "plugins" / "semiseg_qgis" / "LICENSE").read_text().startswith("MIT License")


def test_metadata_links_come_from_the_engines_project_urls(built):
    """repository/tracker/homepage are kept in one place, [project.urls], and written once each."""
    urls = build_plugin.project_urls()
    text = (built / "build" / "semiseg_qgis" / "metadata.txt").read_text(encoding="utf-8")
    meta = configparser.ConfigParser()  # as QGIS and plugins.qgis.org read it (duplicates would raise)
    meta.read_string(text)
    general = meta["general"]
    assert (general["repository"], general["tracker"], general["homepage"]) == (
        urls["Repository"], urls["Issues"], urls["Homepage"])
    assert general["qgisMaximumVersion"] == "4.99"
    assert "Load default parameters" in general["about"]
    assert general["changelog"].splitlines()[0] == general["version"]  # the newest version first
    source = (REPO / "metadata.txt").read_text(encoding="utf-8")
    assert not any(line.startswith(("repository=", "tracker=", "homepage=")) for line in source.splitlines())


def test_staged_metadata_replaces_links_already_written(tmp_path):
    text = "[general]\nname=X\nemail=a@b.c\nrepository=old\n  continued\ntracker=old\nabout=keep\n"
    out = build_plugin.staged_metadata(text, {"Repository": "https://r", "Issues": "https://i", "Homepage": "https://h"})
    assert out == ("[general]\nname=X\nemail=a@b.c\nrepository=https://r\ntracker=https://i\nhomepage=https://h\n"
                   "about=keep\n")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("APPDATA", raising=False)
    return tmp_path / "home"


def _profiles(base: Path, *names: str):
    for name in names:
        (base / name).mkdir(parents=True)
    return [base / name for name in names]


@pytest.mark.parametrize("platform, base", [
    ("linux", ".local/share"), ("darwin", "Library/Application Support"), ("win32", "AppData/Roaming")])
def test_install_finds_every_qgis3_and_qgis4_profile(home, monkeypatch, platform, base):
    monkeypatch.setattr(sys, "platform", platform)
    if platform == "win32":
        monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))
    root = home / base / "QGIS"
    wanted = _profiles(root, "QGIS3/profiles/default", "QGIS3/profiles/work", "QGIS4/profiles/default")
    (root / "QGIS3" / "profiles" / "profiles.ini").write_text("[core]\n")  # a file, not a profile
    assert build_plugin.found_profiles() == wanted


def test_install_follows_xdg_data_home_on_linux(home, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    _profiles(home / ".local/share/QGIS", "QGIS3/profiles/ignored")  # not where QGIS looks now
    wanted = _profiles(tmp_path / "xdg" / "QGIS", "QGIS4/profiles/default")
    assert build_plugin.found_profiles() == wanted


def test_install_without_any_profile_makes_the_qgis3_default(home, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert build_plugin.found_profiles() == [home / "Library/Application Support/QGIS/QGIS3/profiles/default"]


def test_make_install_plugin_fills_each_profile_and_prints_it(built, tmp_path):
    """The command line: every profile found (here QGIS 3's and QGIS 4's), each folder printed."""
    env = dict(os.environ, HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    profiles = _profiles(tmp_path / "data" / "QGIS", "QGIS3/profiles/default", "QGIS4/profiles/default")
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "build_plugin.py"), "--dist", str(built / "d2"),
                          "--build", str(built / "b2"), "--install"], env=env, check=True, capture_output=True,
                         text=True).stdout
    for profile in profiles:
        folder = profile / "python" / "plugins" / "semiseg_qgis"
        assert (folder / "metadata.txt").is_file()
        assert f"installed {folder}" in out.splitlines()


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
