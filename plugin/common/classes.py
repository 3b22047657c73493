"""The class list (id = position, name, color) and its storage in the QGIS project."""
import json
from dataclasses import dataclass

from qgis.core import QgsProject

# Qualitative palette (ColorBrewer Paired/Set1) used for new classes.
PALETTE = ["#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928",
           "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99"]


@dataclass(frozen=True)
class SegClass:
    name: str
    color: str  # "#rrggbb"


def default_classes() -> list:
    return [SegClass("class 1", PALETTE[0]), SegClass("class 2", PALETTE[1])]


def next_color(classes: list) -> str:
    used = {c.color.lower() for c in classes}
    free = [c for c in PALETTE if c not in used]
    return free[0] if free else PALETTE[len(classes) % len(PALETTE)]


def to_job(classes: list) -> list:
    """The `classes` array of job.json: ids are the row order."""
    return [{"id": i, "name": c.name, "color": c.color.lower()} for i, c in enumerate(classes)]


def parse_spec(text: str) -> list:
    """Classes from "water:#1f78b4, land:#d9c89e" (colors optional), as typed in Processing."""
    classes = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, color = part.partition(":")
        classes.append(SegClass(name.strip(), color.strip() or next_color(classes)))
    return classes


def save_to_project(classes: list, project: QgsProject) -> None:
    project.writeEntry("semiseg", "classes", json.dumps([c.__dict__ for c in classes]))


def load_from_project(project: QgsProject) -> list:
    text, found = project.readEntry("semiseg", "classes", "")
    if not found or not text:
        return []
    return [SegClass(d["name"], d["color"]) for d in json.loads(text)]
