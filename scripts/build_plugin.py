#!/usr/bin/env python3
"""Build the installable QGIS plugin, and optionally install it into QGIS profiles.

    python3 scripts/build_plugin.py                 # -> dist/semiseg-<version>.zip
    python3 scripts/build_plugin.py --install       # and unpack it into every QGIS 3 and QGIS 4 profile
    python3 scripts/build_plugin.py --install --profile DIR     # or into that one profile folder

The zip holds one folder, `semiseg_qgis/` (not `semiseg`, the engine's package name): the plugin
code, metadata.txt, LICENSE, resources/, README.md, and the engine source (engine/pyproject.toml +
engine/src) that "Set up engine" pip-installs into a separate virtual environment.

metadata.txt's repository, tracker and homepage are written into the staged copy from
[project.urls] in engine/pyproject.toml, the one place they are kept.
"""
import argparse
import configparser
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAME = "semiseg_qgis"
# Nothing compiled, cached or hidden goes into the plugin (plugins.qgis.org refuses .pyc and
# __pycache__, and flags hidden files).
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info", ".*")
# metadata.txt key <- engine/pyproject.toml [project.urls] key
URL_KEYS = {"repository": "Repository", "tracker": "Issues", "homepage": "Homepage"}
# The QGIS major versions whose profile folders `--install` looks for (QGIS/QGIS<major>/profiles).
QGIS_MAJORS = (3, 4)


def version() -> str:
    meta = configparser.ConfigParser(interpolation=None)
    meta.read(REPO / "metadata.txt", encoding="utf-8")
    return meta["general"]["version"]


def project_urls(pyproject: Path = REPO / "engine" / "pyproject.toml") -> dict:
    """The [project.urls] table of engine/pyproject.toml."""
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11: the table is flat `Key = "value"` lines
        table = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        pairs = re.findall(r'^\s*"?([A-Za-z][\w.-]*)"?\s*=\s*"([^"]*)"', table.group(1) if table else "", re.M)
        return dict(pairs)
    return tomllib.loads(text).get("project", {}).get("urls", {})


def staged_metadata(text: str, urls: dict) -> str:
    """metadata.txt with repository/tracker/homepage from `urls` (replacing any already there)."""
    lines, keep, skipping = text.splitlines(), [], False
    for line in lines:
        key = line.split("=", 1)[0].strip() if "=" in line and not line[:1].isspace() else None
        if key is not None:
            skipping = key in URL_KEYS
        elif not (line[:1].isspace() and line.strip()):
            skipping = False  # a blank, comment or section line ends a value
        if not skipping and not line.startswith("#"):  # the source's notes stay in the source
            keep.append(line)
    missing = [f"[project.urls] {pkey}" for pkey in URL_KEYS.values() if not urls.get(pkey)]
    if missing:
        raise SystemExit(f"engine/pyproject.toml lacks {', '.join(missing)} (metadata.txt needs it)")
    added = [f"{key}={urls[pkey]}" for key, pkey in URL_KEYS.items()]
    at = next((i + 1 for i, line in enumerate(keep) if line.startswith("email=")), len(keep))
    return "\n".join(keep[:at] + added + keep[at:]) + "\n"


def stage(build: Path) -> Path:
    """Lay the plugin folder out under build/ exactly as it will be installed."""
    target = build / NAME
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(REPO / "plugin", target, ignore=SKIP)
    metadata = staged_metadata((REPO / "metadata.txt").read_text(encoding="utf-8"), project_urls())
    (target / "metadata.txt").write_text(metadata, encoding="utf-8")
    shutil.copy2(REPO / "LICENSE", target / "LICENSE")
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
        # The top folder first: plugins.qgis.org takes the plugin's folder from the first name.
        top = zipfile.ZipInfo(f"{folder.name}/")
        top.external_attr = (0o40755 << 16) | 0x10  # a folder, drwxr-xr-x
        zf.writestr(top, "")
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                info = zipfile.ZipInfo.from_file(file, file.relative_to(folder.parent).as_posix())
                info.external_attr = 0o644 << 16  # no executable bits, whatever the checkout had
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, file.read_bytes())
    tmp.replace(path)
    return path


def qgis_data_dir() -> Path:
    """Where QGIS keeps its per-user folders (QGIS/QGIS3, QGIS/QGIS4) on this platform."""
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        return Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def profile_roots() -> list:
    """Every `.../QGIS/QGIS<major>/profiles` folder QGIS 3 and QGIS 4 use on this platform."""
    bases = [qgis_data_dir()]
    if sys.platform.startswith("linux"):  # the Flatpak build keeps its own data folder
        bases.append(Path.home() / ".var" / "app" / "org.qgis.qgis" / "data")
    return [base / "QGIS" / f"QGIS{major}" / "profiles" for base in bases for major in QGIS_MAJORS]


def default_profile() -> Path:
    """QGIS 3's default profile folder on this platform (created when no profile exists)."""
    return profile_roots()[0] / "default"


def found_profiles() -> list:
    """Every QGIS 3 and QGIS 4 profile folder there is, or the default QGIS 3 one when there is none."""
    profiles = [p for root in profile_roots() if root.is_dir() for p in sorted(root.iterdir()) if p.is_dir()]
    return profiles or [default_profile()]


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
    parser.add_argument("--install", action="store_true",
                        help="install into every QGIS 3 and QGIS 4 profile (or --profile)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="one profile folder, e.g. ~/.local/share/QGIS/QGIS3/profiles/default")
    args = parser.parse_args()
    archive = make_zip(stage(args.build), args.dist)
    print(f"built {archive}")
    if args.install:
        for profile in [args.profile] if args.profile else found_profiles():
            print(f"installed {install(archive, profile)}")
        print('enable "SemiSeg" in Plugins > Manage and Install Plugins (restart QGIS if it is running)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
