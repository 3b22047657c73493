"""SEG-Y volumes in QGIS: the engine reads them (`semiseg segy info/sections`), the plugin loads
the sections and slices it writes as layers ready to label.

The engine writes each raster with its default style beside it (`<stem>.qml`: the seismic
red-white-blue ramp, stretched symmetrically about zero), so a section dragged in by hand
looks the same. A section has no CRS: it is drawn in traces across and samples down.
"""
import json
from pathlib import Path

from qgis.core import QgsRasterLayer

from ..engine_process import engine
from ..maps import results


def read_info(python: str, volume: str) -> dict:
    """`semiseg segy info --json` of `volume`; EngineError with the engine's one line if unreadable."""
    done = engine.run(engine.command(python, "segy", "info", str(volume), "--json"))
    if done.returncode != 0:
        lines = [l for l in done.stderr.splitlines() if l.strip()]
        raise engine.EngineError(lines[-1].removeprefix("semiseg: error: ") if lines else
                                 f"The engine could not read {volume} (exit code {done.returncode}).")
    return json.loads(done.stdout)


def summary(info: dict) -> str:
    """The geometry in two lines, as the dialog shows it."""
    il, xl = info["inlines"], info["crosslines"]
    lines = [f"{info['kind']}: inlines {il['first']}–{il['last']} (step {il['step']}), "
             f"crosslines {xl['first']}–{xl['last']} (step {xl['step']}); {info['traces']} traces",
             f"{info['samples']} samples every {info['sample_interval']:g} from {info['first_sample']:g}; "
             f"format {info['format']}, {info['endian']}-endian"]
    if info.get("irregular"):
        lines.append("Irregular: " + "; ".join(info["irregular"]))
    return "\n".join(lines)


def section_tie(source: str):
    """The sidecar `semiseg segy sections` wrote beside a section raster (its volume, line and
    sample interval), or None for any other raster."""
    try:
        tie = json.loads(Path(source + ".segy.json").read_text())
    except (OSError, ValueError):
        return None
    return tie if isinstance(tie, dict) and tie.get("kind") in ("inline", "crossline") else None


def same_line(source: str, other: str) -> bool:
    """Whether two section rasters are the same line of the same volume: a volume prediction
    writes its own copy of a section beside its maps, and its map belongs above the section the
    analyst opened, not at the top of the tree."""
    mine, theirs = section_tie(source), section_tie(other)
    return mine is not None and theirs is not None and \
        all(mine.get(k) == theirs.get(k) for k in ("kind", "line")) and Path(mine["volume"]) == Path(theirs["volume"])


VOLUME_KINDS = ("classes_segy", "confidence_segy")  # `output` kinds of a volume's SEG-Y maps (docs/job-spec.md)


def volume_files(folder: Path, outputs: list) -> dict:
    """{volume: [files]} of the SEG-Y maps a prediction run reported (its `output` events)."""
    files = {}
    for event in outputs:
        if event.get("kind") in VOLUME_KINDS and event.get("source"):
            files.setdefault(event["source"], []).append(Path(folder) / event["path"])
    return files


def volume_message(files: dict, sections: list) -> str:
    """What a volume prediction wrote, in a sentence: its SEG-Y files, where, and the sections
    whose maps were added (`sections`: their layer names)."""
    parts = []
    for volume, paths in files.items():
        folder = paths[0].parent
        parts.append(f"Predicted the whole volume {Path(volume).name}: wrote " + " and ".join(p.name for p in paths) +
                     f" (class ids and confidence, with the volume's own headers) in {folder}.")
    if sections:
        parts.append("The map of " + ", ".join(sections) + " is in the layer tree.")
    return " ".join(parts)


def parse_numbers(text: str, what: str) -> tuple:
    """("120 130, 140" -> ([120, 130, 140], None); "every 10" -> ([], 10)); ValueError naming `what`."""
    numbers, every = [], None
    words = text.replace(",", " ").split()
    i = 0
    while i < len(words):
        if words[i].lower() == "every":
            if i + 1 >= len(words) or not words[i + 1].isdigit() or int(words[i + 1]) < 1:
                raise ValueError(f"{what}: \"every\" needs a whole number after it, e.g. \"every 10\"")
            every, i = int(words[i + 1]), i + 2
            continue
        try:
            numbers.append(float(words[i]) if what == "Time slices" else int(words[i]))
        except ValueError:
            raise ValueError(f"{what}: {words[i]!r} is not a {'time' if what == 'Time slices' else 'line number'}") from None
        i += 1
    return numbers, every


def sections_command(python: str, volume: str, out: Path, inlines=(), crosslines=(), times=(), every=None,
                     crs: str = "") -> list:
    """`semiseg segy sections`; `every`: {"inline": K, "crossline": K, "time": K}."""
    args = ["segy", "sections", str(volume), "--out", str(out)]
    for flag, values in (("--inline", inlines), ("--crossline", crosslines), ("--time-slice", times)):
        if values:
            args += [flag, *(f"{v:g}" if isinstance(v, float) else str(v) for v in values)]
    for axis, step in (every or {}).items():
        args += ["--every", axis, str(step)]
    if crs:
        args += ["--crs", crs]
    return engine.command(python, *args)


def written_rasters(stdout: str) -> list:
    """The rasters `semiseg segy sections` printed, one path per line."""
    return [Path(line.strip()) for line in stdout.splitlines() if line.strip().endswith(".tif")]


def add_sections(paths: list, volume: str, project) -> list:
    """Load the section and slice rasters in a group "SEG-Y <volume>" at the top of the tree.

    Sections all lie at the same place (trace 0, sample 0): only the first is shown, and every
    section is listed above the slices, which lie on the map.
    """
    group = results.group_above(project, f"SEG-Y {Path(volume).stem}")
    layers = []
    for path in sorted(paths, key=lambda p: ("_slice_" in p.name, p.name)):
        layer = QgsRasterLayer(str(path), path.stem, "gdal")  # its default style: <stem>.qml
        if not layer.isValid():
            raise OSError(f"QGIS cannot read {path}.")
        project.addMapLayer(layer, False)
        node = group.addLayer(layer)
        node.setItemVisibilityChecked(not layers)
        layers.append(layer)
    return layers
