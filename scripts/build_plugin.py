#!/usr/bin/env python3
"""Build the installable QGIS plugin, and optionally install it into a QGIS profile.

    python3 scripts/build_plugin.py                 # -> dist/semiseg-<version>.zip
    python3 scripts/build_plugin.py --install       # and unpack it into the default profile
    python3 scripts/build_plugin.py --install --profile DIR

The zip holds one folder, `semiseg_qgis/` (not `semiseg`, the engine's package name): the plugin
code, metadata.txt, resources/, README.md, and the engine source (engine/pyproject.toml +
engine/src) that "Set up engine" pip-installs into a separate virtual environment.
"""
import argparse
import configparser
import os
import shutil
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAME = "semiseg_qgis"
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")


def version() -> str:
    meta = configparser.ConfigParser()
    meta.read(REPO / "metadata.txt")
    return meta["general"]["version"]


def stage(build: Path) -> Path:
    """Lay the plugin folder out under build/ exactly as it will be installed."""
    target = build / NAME
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(REPO / "plugin", target, ignore=SKIP)
    shutil.copy2(REPO / "metadata.txt", target / "metadata.txt")
    shutil.copytree(REPO / "resources", target / "resources", ignore=SKIP)
    (target / "engine").mkdir()
    shutil.copy2(REPO / "engine" / "pyproject.toml", target / "engine" / "pyproject.toml")
    shutil.copytree(REPO / "engine" / "src", target / "engine" / "src", ignore=SKIP)
    if (REPO / "README.md").is_file():  # the user guide travels with the plugin
        shutil.copy2(REPO / "README.md", target / "README.md")
    return target


def make_zip(folder: Path, dist: Path) -> Path:
    dist.mkdir(parents=True, exist_ok=True)
    path = dist / f"semiseg-{version()}.zip"
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(folder.parent).as_posix())
    tmp.replace(path)
    return path


def default_profile() -> Path:
    """QGIS's default profile folder on this platform."""
    if sys.platform == "win32":
        base = Path(os.environ["APPDATA"])
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "QGIS" / "QGIS3" / "profiles" / "default"


def install(archive: Path, profile: Path) -> Path:
    plugins = profile / "python" / "plugins"
    shutil.rmtree(plugins / NAME, ignore_errors=True)
    plugins.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(plugins)
    return plugins / NAME


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="where the zip goes")
    parser.add_argument("--build", type=Path, default=REPO / "build", help="staging folder")
    parser.add_argument("--install", action="store_true", help="install into a QGIS profile")
    parser.add_argument("--profile", type=Path, default=None, help="profile folder (default: QGIS's default)")
    args = parser.parse_args()
    archive = make_zip(stage(args.build), args.dist)
    print(f"built {archive}")
    if args.install:
        folder = install(archive, args.profile or default_profile())
        print(f"installed {folder}; enable \"SemiSeg\" in Plugins > Manage and Install Plugins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
