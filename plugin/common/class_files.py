"""Classes read from the files the engine and its data use: a classes.json, a class map's style.

A label space is usually defined already: in a classes.json (`[{"id", "name", "color"}]`, the
format of ../shared/data and of job.json's `classes`, validated by the engine's jobs/spec.py:
ids 0..N-1 each once, names unique, colours #rrggbb) or in the paletted style of a class map
(the engine's <stem>_classes.qml, or any raster styled so in QGIS). Typing them again invites
mistakes, so the dock reads them (issue 41, item 13).

A colour missing from a file comes from the class name (classes.color_for).
"""
import json
import re
import xml.etree.ElementTree as ElementTree  # nosec B405  # a style file the user picked, no network input
from pathlib import Path

from .classes import SegClass, color_for

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def read_classes(path: str) -> list:
    """SegClasses from a classes.json (or a job.json's `classes`), a QML style, or a raster with a
    QML beside it; ValueError that names the file and what is wrong with it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return from_json(path)
    if suffix == ".qml":
        return from_qml(path)
    beside = path.with_suffix(".qml")
    if beside.is_file():
        return from_qml(beside)
    raise ValueError(f"{path.name}: not a classes.json or a .qml style, and no .qml style beside it.")


def from_json(path: Path) -> list:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{Path(path).name}: not readable as JSON ({e}).") from None
    if isinstance(data, dict):  # a job.json
        data = data.get("classes")
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError(f"{Path(path).name}: expected a list of classes, each {{\"id\", \"name\", \"color\"}}.")
    return _checked([(d.get("id"), d.get("name"), d.get("color")) for d in data], Path(path).name)


def from_qml(path: Path) -> list:
    """The classes of a paletted raster style (<paletteEntry value label color/>)."""
    try:
        root = ElementTree.parse(str(path)).getroot()  # nosec B314  # a local style file
    except (OSError, ElementTree.ParseError) as e:
        raise ValueError(f"{Path(path).name}: not readable as a QGIS style ({e}).") from None
    entries = root.findall(".//paletteEntry")
    if not entries:
        raise ValueError(f"{Path(path).name}: not a paletted (class) style; style the class raster "
                         "\"Paletted/Unique values\" and save it as QML.")
    return _checked([(e.get("value"), e.get("label"), e.get("color")) for e in entries], Path(path).name)


def from_palette(entries: list, what: str) -> list:
    """The classes of a paletted renderer's (value, label, "#rrggbb") entries (a styled raster layer)."""
    return _checked(entries, what)


def _checked(entries: list, what: str) -> list:
    """(id, name, colour) entries as the engine accepts them: ids 0..N-1 each once, names
    non-empty and unique, colours #rrggbb (a missing one from the name's hint)."""
    try:
        rows = sorted((int(float(i)), (n or "").strip(), (c or "").strip()) for i, n, c in entries)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: every class needs a whole-number id (its value in the class raster).") from None
    ids = [i for i, _, _ in rows]
    if ids != list(range(len(ids))):
        raise ValueError(f"{what}: class ids must be 0..{len(ids) - 1}, each once; got {ids}.")
    if len(rows) < 2:
        raise ValueError(f"{what}: holds {len(rows)} class(es); a segmentation needs at least two.")
    seen, classes = set(), []
    for i, name, color in rows:
        if not name:
            raise ValueError(f"{what}: class {i} has no name.")
        if name.casefold() in seen:
            raise ValueError(f"{what}: two classes are named {name!r}; give each class its own name.")
        seen.add(name.casefold())
        color = color[:7] if _COLOR.match(color[:7]) else color_for(name, classes)  # "#rrggbbaa" as QGIS may write
        classes.append(SegClass(name, color.lower()))
    return classes
