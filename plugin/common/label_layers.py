"""Label layers: a GeoPackage with scribble (line), region (polygon) and point layers.

Each layer has an integer `class_id` field, a categorized renderer with the class table's
colors, and a default value equal to the active class with the attribute form suppressed, so
that labelling is draw, draw, draw. Layers are tagged with custom properties so the dock finds
them again after a project reload.
"""
from qgis.PyQt.QtCore import QMetaType, QVariant, Qt
from qgis.PyQt.QtGui import QColor
from qgis.core import (QgsCategorizedSymbolRenderer, QgsCoordinateTransformContext, QgsDefaultValue,
                       QgsEditFormConfig, QgsField, QgsFields, QgsLineSymbol, QgsMapUnitScale, QgsProject,
                       QgsRasterLayer, QgsRendererCategory, QgsSimpleLineSymbolLayer, QgsSymbol,
                       QgsUnitTypes,
                       QgsVectorFileWriter, QgsVectorLayer, QgsWkbTypes)

CLASS_FIELD = "class_id"
ROLE = "semiseg/role"
RASTER = "semiseg/raster"
# QgsField's type: QGIS 3.22 takes only a QVariant.Type, Qt6 has no QVariant.Type and QGIS 4 takes
# a QMetaType.Type (read through getattr: the Qt6 check refuses QVariant.Int spelled out).
INT_FIELD = getattr(QVariant, "Int", None) or QMetaType.Type.Int
# QGIS's own enums keep their unscoped spelling: QGIS 3.22 has no scoped form of them
# (no Qgis.WkbType before 3.30) and QGIS 4 still accepts the unscoped names.
LAYERS = (("regions", QgsWkbTypes.Polygon), ("scribbles", QgsWkbTypes.LineString),
          ("points", QgsWkbTypes.Point))


def create_label_layers(path: str, raster: QgsRasterLayer) -> list:
    """Write an empty label GeoPackage in the raster's CRS (none if it has none) and open it."""
    fields = QgsFields()
    fields.append(QgsField(CLASS_FIELD, INT_FIELD))
    layers = []
    for i, (name, wkb) in enumerate(LAYERS):
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        options.layerName = name
        if i:
            options.actionOnExistingFile = QgsVectorFileWriter.CreateOrOverwriteLayer
        writer = QgsVectorFileWriter.create(path, fields, wkb, raster.crs(),
                                            QgsCoordinateTransformContext(), options)
        if writer.hasError():
            raise OSError(f"cannot create {path}: {writer.errorMessage()}")
        del writer  # closes the layer so the next one can be added
        layer = QgsVectorLayer(f"{path}|layername={name}", f"{raster.name()} {name}", "ogr")
        if not raster.crs().isValid():  # GeoPackage says "undefined geographic"; QGIS must not
            layer.setCrs(raster.crs())
        layer.setCustomProperty(ROLE, "labels")
        layer.setCustomProperty(RASTER, raster.id())
        layers.append(layer)
    return layers


def label_layers_for(raster_id: str, project: QgsProject) -> list:
    return [l for l in project.mapLayers().values()
            if l.customProperty(ROLE) == "labels" and l.customProperty(RASTER) == raster_id]


def all_label_layers(project: QgsProject) -> list:
    return [l for l in project.mapLayers().values() if l.customProperty(ROLE) == "labels"]


def apply_classes(layer: QgsVectorLayer, classes: list, line_width_map_units: float) -> None:
    """Categorized renderer by class id; lines are drawn as wide as the engine will burn them."""
    categories = []
    for class_id, seg_class in enumerate(classes):
        if layer.geometryType() == QgsWkbTypes.LineGeometry:
            symbol = _scribble_symbol(QColor(seg_class.color), line_width_map_units)
        else:
            symbol = QgsSymbol.defaultSymbol(layer.geometryType())
            symbol.setColor(QColor(seg_class.color))
            if layer.geometryType() == QgsWkbTypes.PolygonGeometry:
                symbol.setOpacity(0.5)
        categories.append(QgsRendererCategory(class_id, symbol, seg_class.name))
    layer.setRenderer(QgsCategorizedSymbolRenderer(CLASS_FIELD, categories))
    layer.triggerRepaint()


def _scribble_symbol(color: QColor, width_map_units: float) -> QgsLineSymbol:
    """A line as wide as the engine burns it, in a white casing that keeps it visible over a
    prediction of the same color."""
    scale = QgsMapUnitScale()
    scale.minSizeMMEnabled, scale.minSizeMM = True, 0.5
    symbol = QgsLineSymbol()
    symbol.deleteSymbolLayer(0)
    for layer_color, width in ((QColor(255, 255, 255, 220), 1.6 * width_map_units), (color, width_map_units)):
        line = QgsSimpleLineSymbolLayer(layer_color, width)
        line.setWidthUnit(QgsUnitTypes.RenderMapUnits)
        line.setWidthMapUnitScale(scale)
        line.setPenCapStyle(Qt.PenCapStyle.RoundCap)
        symbol.appendSymbolLayer(line)  # the symbol owns it from here
    return symbol


def set_active_class(layer: QgsVectorLayer, class_id: int) -> None:
    """New features get `class_id` and no attribute form opens."""
    layer.setDefaultValueDefinition(layer.fields().indexOf(CLASS_FIELD), QgsDefaultValue(str(class_id)))
    config = layer.editFormConfig()
    config.setSuppress(QgsEditFormConfig.SuppressOn)
    layer.setEditFormConfig(config)


def remove_class(layer: QgsVectorLayer, class_id: int) -> None:
    """Delete the class's features and shift higher ids down, keeping ids contiguous."""
    was_editing = layer.isEditable()
    if not was_editing:
        layer.startEditing()
    index = layer.fields().indexOf(CLASS_FIELD)
    for feature in list(layer.getFeatures()):
        value = feature[CLASS_FIELD]
        if not isinstance(value, int):  # NULL: unlabelled, left alone
            continue
        if value == class_id:
            layer.deleteFeature(feature.id())
        elif value > class_id:
            layer.changeAttributeValue(feature.id(), index, value - 1)
    if not was_editing and not layer.commitChanges():
        raise OSError(f"cannot update {layer.name()}: {'; '.join(layer.commitErrors())}")
