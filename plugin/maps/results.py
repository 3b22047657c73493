"""Adding the engine's prediction layers to the project, styled, above their source raster.

Runs on the GUI thread only (layers are never created in a worker thread).
"""
from pathlib import Path

from qgis.core import (QgsCoordinateReferenceSystem, QgsLayerTree, QgsLayerTreeGroup, QgsProject, QgsRasterLayer,
                       QgsVectorLayer)

# What a class map the dock added knows of its prediction (layer properties)
SOURCE, CONFIDENCE, AREAS, SUGGESTIONS = "semiseg/source", "semiseg/confidence", "semiseg/areas", "semiseg/suggestions"


def outputs_of(folder: Path, outputs: list, source: str) -> dict:
    """{kind: file} predicted from the raster file `source`, from a run's `output` events
    (JobState.outputs).

    The engine names what it wrote, relative to the folder of its events.jsonl; the plugin does
    not re-derive file names.
    """
    return {event["kind"]: Path(folder) / event["path"] for event in outputs
            if event.get("kind") in ORDER + ("areas",) and event.get("source") and Path(event["source"]) == Path(source)}


def _load_style(layer, qml: Path) -> None:
    if qml.is_file():
        message, ok = layer.loadNamedStyle(str(qml))
        if not ok:
            raise OSError(f"Cannot apply the style {qml}: {message}")


def add_prediction(files: dict, raster_path: str, group_name: str, project: QgsProject,
                   source_layer=None) -> QgsLayerTreeGroup:
    """A group with the suggestions of where to label next and the class polygons (each when
    written), the class raster (paletted style) and the confidence raster (hidden); `files`:
    {kind: file} of one source raster (outputs_of).

    The group goes right above `source_layer` in the layer tree, else at the top. The class
    raster remembers its source raster, confidence layer and class-area table (map_section).
    """
    layers = []
    for kind in ORDER:
        path = files.get(kind)
        if path is None:
            if kind in VECTORS:  # written only when asked for
                continue
            raise FileNotFoundError(f"The engine reported no {kind} raster of {raster_path}.")
        if not path.is_file():
            raise FileNotFoundError(f"The engine did not write {path}.")
        name = f"{Path(raster_path).stem} {kind}"
        layer = (QgsVectorLayer(f"{path}|layername={path.stem}", name, "ogr") if kind in VECTORS
                 else QgsRasterLayer(str(path), name, "gdal"))
        if not layer.isValid():
            raise OSError(f"QGIS cannot read {path}.")
        _load_style(layer, path.with_suffix(".qml"))
        layers.append(layer)  # in ORDER: vectors above the rasters they outline
    classes, confidence = layers[-2:]
    if not (source_layer.crs() if source_layer is not None else classes.crs()).isValid():
        for layer in layers:
            _no_crs(layer)
    classes.setCustomProperty(SOURCE, str(raster_path))
    classes.setCustomProperty(CONFIDENCE, confidence.id())
    if "suggestions" in files:
        classes.setCustomProperty(SUGGESTIONS, layers[0].id())
    if "areas" in files:
        classes.setCustomProperty(AREAS, str(files["areas"]))
    group = group_above(project, group_name, source_layer, raster_path)
    for layer in layers:
        project.addMapLayer(layer, False)
        group.addLayer(layer)
    group.findLayer(layers[-1].id()).setItemVisibilityChecked(False)  # the confidence raster
    return group


def _no_crs(layer) -> None:
    """A map of a raster without a CRS has none either. A GeoPackage without one reads as
    "Undefined geographic SRS", a CRS QGIS would try to transform to the project's (a red
    "No transform available" message, and the map misplaced)."""
    layer.setCrs(QgsCoordinateReferenceSystem())


# Top to bottom in a prediction's group: where to label next and outlines over the classes,
# confidence (hidden) below.
ORDER = ("suggestions", "polygons", "classes", "confidence")
VECTORS = ("suggestions", "polygons")


def group_above(project: QgsProject, group_name: str, source_layer=None, source_path: str = None) -> QgsLayerTreeGroup:
    """The group named `group_name` (made right above `source_layer` in the tree, else at the top).

    Rasters without a CRS all lie at the same place: a map of one goes to the very top, or the
    other rasters listed above it would hide it.

    A group made for the raster file `source_path` (default: `source_layer`'s) remembers it; the
    older groups of that raster are collapsed and hidden and the new one goes above them, so the
    newest map is the one seen and its suggestions do not overlap an older run's.
    """
    root = project.layerTreeRoot()
    existing = root.findGroup(group_name)
    if existing is not None:
        return existing
    if source_path is None and source_layer is not None:
        source_path = source_layer.source()
    parent, index = root, 0
    placed = source_layer is not None and source_layer.crs().isValid()
    node = root.findLayer(source_layer.id()) if placed else None
    if node is not None:
        parent = node.parent()
        index = parent.children().index(node)
    older = _groups_of(root, source_path) if source_path else []
    for group in older:
        group.setExpanded(False)
        group.setItemVisibilityChecked(False)
    siblings = parent.children()
    index = min([index] + [siblings.index(g) for g in older if g.parent() is parent])
    group = parent.insertGroup(index, group_name)
    if source_path:
        group.setCustomProperty(SOURCE, str(Path(source_path)))
    return group


def _groups_of(root, source_path: str) -> list:
    """The groups made for the maps of the raster file `source_path` (group_above), anywhere in the tree."""
    wanted = str(Path(source_path))
    found = []

    def walk(group):
        for child in group.children():
            if QgsLayerTree.isGroup(child):
                if child.customProperty(SOURCE, "") == wanted:
                    found.append(child)
                walk(child)
    walk(root)
    return found


def move_into_prediction_group(layer, kind: str, group_name: str, project: QgsProject, source_path: str) -> None:
    """Put a layer Processing has just added (at the top of the tree) where the dock puts its own:
    in the prediction's group above its source raster, in ORDER, the confidence raster hidden."""
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None:
        return
    source = next((l for l in project.mapLayers().values() if l.source() == source_path and l.id() != layer.id()), None)
    if source is not None and not source.crs().isValid():
        _no_crs(layer)
    group = group_above(project, group_name, source, source_path)
    layer.setCustomProperty("semiseg/kind", kind)
    above = sum(1 for child in group.findLayers()
                if ORDER.index(child.layer().customProperty("semiseg/kind", ORDER[-1])) < ORDER.index(kind))
    moved = node.clone()
    group.insertChildNode(above, moved)
    node.parent().removeChildNode(node)
    moved.setItemVisibilityChecked(kind != "confidence")
