"""Where the plugin's bundled files live, in a checkout and in an installed plugin.

The build script copies `resources/` and the engine source next to the plugin code; in a
development checkout they are one folder up. This module is the only place that knows both.
"""
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[1]  # this file is common/paths.py


def bundle_root() -> Path:
    """Folder holding `resources/` and `engine/` (the installed plugin, else the repository)."""
    if (PLUGIN_DIR / "resources").is_dir():
        return PLUGIN_DIR
    return PLUGIN_DIR.parent


def plugin_version() -> str:
    """The plugin's version (metadata.txt); the engine it bundles carries the same."""
    for line in (bundle_root() / "metadata.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("version="):
            return line.split("=", 1)[1].strip()
    return ""


def icon_path(name: str) -> str:
    return str(bundle_root() / "resources" / "icons" / name)


def engine_source() -> Path:
    """The engine's source (pyproject.toml + src/) that "Set up engine" installs."""
    return bundle_root() / "engine"
