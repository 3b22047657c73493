"""The class list (id = position, name, color) and its storage in the QGIS project.

New classes got palette colours in table order, so "land" came out green and "vegetation"
purple (issue 41, item 13): a class whose name names a common land cover gets that cover's
colour (COLOR_HINTS), and a class without one never gets a colour a hint stands for.
"""
import json
import re
from dataclasses import dataclass

from qgis.core import QgsProject

# Qualitative palette (ColorBrewer Paired/Set1) used for new classes.
PALETTE = ["#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928",
           "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99"]


@dataclass(frozen=True)
class SegClass:
    name: str
    color: str  # "#rrggbb"


# (words in a class name, shades of the colour they call for, the first free one is taken).
COLOR_HINTS = (
    (("water", "sea", "river", "lake", "ocean", "pond", "wetland", "canal"), ("#1f78b4", "#a6cee3", "#08519c")),
    (("vegetation", "tree", "trees", "forest", "grass", "grassland", "park", "shrub", "crop", "crops", "meadow",
      "woodland", "conifer", "green"), ("#33a02c", "#b2df8a", "#1b5e20", "#4caf50")),
    (("building", "buildings", "urban", "house", "houses", "roof", "built", "settlement"), ("#e31a1c", "#fb9a99", "#99000d")),
    (("road", "roads", "street", "asphalt", "pavement", "parking", "railway"), ("#7f7f7f", "#bdbdbd", "#525252")),
    (("soil", "land", "sand", "bare", "desert", "earth", "dirt", "quarry", "quarries", "rock"), ("#a6761d", "#d9c89e", "#8c510a")),
    (("snow", "ice", "cloud", "clouds"), ("#f0f0f0", "#d9d9d9")),
    (("shadow", "shadows"), ("#252525",)),
)
# Palette colours a class without a hint never gets: they would read as a land cover it is not.
HINTED = {shade for _, shades in COLOR_HINTS for shade in shades}


def hinted_color(name: str, used: set) -> str:
    """The colour a class name calls for (a free shade of it), or "" when it names no common cover."""
    words = set(re.findall(r"[a-z]+", name.casefold()))
    for hints, shades in COLOR_HINTS:
        if words & set(hints):
            return next((s for s in shades if s not in used), shades[0])
    return ""


def color_for(name: str, classes: list) -> str:
    """A new class's colour: its name's hint, else the first palette colour neither used nor hinted."""
    used = {c.color.lower() for c in classes}
    hint = hinted_color(name, used)
    if hint:
        return hint
    free = [c for c in PALETTE if c not in used and c not in HINTED] or [c for c in PALETTE if c not in used]
    return free[0] if free else PALETTE[len(classes) % len(PALETTE)]


def default_classes() -> list:
    """A new project's two classes, in colours no land-cover name calls for (renaming gives one)."""
    first = SegClass("class 1", color_for("class 1", []))
    return [first, SegClass("class 2", color_for("class 2", [first]))]


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
        classes.append(SegClass(name.strip(), color.strip() or color_for(name.strip(), classes)))
    return classes


def save_to_project(classes: list, project: QgsProject) -> None:
    project.writeEntry("semiseg", "classes", json.dumps([c.__dict__ for c in classes]))


def load_from_project(project: QgsProject) -> list:
    text, found = project.readEntry("semiseg", "classes", "")
    if not found or not text:
        return []
    return [SegClass(d["name"], d["color"]) for d in json.loads(text)]
