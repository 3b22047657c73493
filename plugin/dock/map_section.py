"""The dock's "Map and export" section: the class areas of a prediction, where to label next
("Next suggestion" zooms to the engine's suggestions one by one), "Export map" (a print layout
to PDF and PNG) and "Export ONNX" (the model for Deepness and onnxruntime).

A class map added by the dock (results.add_prediction) carries, as layer properties, the raster
it was predicted from, its confidence layer and its class-area table; any other class raster
exports too, without them.
"""
from pathlib import Path

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (QAbstractItemView, QCheckBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                                 QLineEdit, QPushButton, QTableWidget, QTableWidgetItem)
from qgis.core import QgsCoordinateTransform, QgsMapLayerProxyModel, QgsWkbTypes
from qgis.gui import QgsCollapsibleGroupBox, QgsMapLayerComboBox, QgsRubberBand

from ..maps import map_layout
from ..maps.results import AREAS, CONFIDENCE, SOURCE, SUGGESTIONS
from .notice import Notice


class MapSection(QgsCollapsibleGroupBox):
    exportMapRequested = pyqtSignal()
    exportOnnxRequested = pyqtSignal()
    nextSuggestionRequested = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__("Map and export", parent)
        self.classes = QgsMapLayerComboBox()
        self.classes.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.classes.setToolTip("A class map (RASTER classes) of a prediction.")
        self.highlight, self._highlight_canvas = None, None  # the suggestion shown (next_suggestion)
        self.areas = QTableWidget(0, 4)
        self.areas.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.areas.verticalHeader().hide()
        self.areas.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.areas.setToolTip("Area and share of each class; Uncertain: its pixels whose confidence is less than "
                              "halfway from chance (1/K of K classes) to certainty: below 75 % with two classes, "
                              "67 % with three, 55 % with ten.")
        self.title = QLineEdit()
        self.title.setPlaceholderText("the class map's name")
        self.inset = QCheckBox("Confidence inset")
        self.inset.setChecked(True)
        self.export_map_button = QPushButton("Export map…")
        self.export_map_button.setToolTip("A print layout (title, legend, class areas, scale bar, north arrow, CRS, "
                                          "date) exported to PDF and PNG, and kept in the project's layouts.")
        self.export_onnx_button = QPushButton("Export ONNX…")
        self.export_onnx_button.setToolTip("The model of Predict's model folder as one .onnx file that the Deepness "
                                           "plugin, onnxruntime and `semiseg predict` run. It holds a network only: "
                                           "a Quick map (a pixel forest) has none, and a blend's forest is left "
                                           "out (you are asked first).")
        self.export_map_button.clicked.connect(self.exportMapRequested)
        self.export_onnx_button.clicked.connect(self.exportOnnxRequested)
        self.next_button = QPushButton("Next suggestion")
        self.next_button.setToolTip("Zoom to the next place where a label would teach the model most (the "
                                    "prediction's suggestions, best first): label it, then Train again.")
        self.next_button.clicked.connect(self.nextSuggestionRequested)
        self.suggestion = QLabel()
        self.suggestion.setWordWrap(True)
        self.shown_rank = 0  # the suggestion last zoomed to (0: none yet)
        self.message = Notice()  # what the export buttons answer, right under them
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_map_button)
        buttons.addWidget(self.export_onnx_button)
        form = QFormLayout(self)
        form.addRow("Class map", self.classes)
        form.addRow(self.areas)
        form.addRow(self.next_button, self.suggestion)
        form.addRow("Title", self.title)
        form.addRow(self.inset)
        form.addRow(buttons)
        form.addRow(self.message)
        # a bound method, not a lambda: Qt drops the connection with the section (the combo
        # reports the project's layers going while the dock is being deleted)
        self.classes.layerChanged.connect(self._layer_picked)
        self.show_areas(self.classes.currentLayer())
        self.setCollapsed(True)

    def show_map(self, classes_layer) -> None:
        """Pick a class map just added (its areas show) and open the section."""
        self.classes.setLayer(classes_layer)
        self.show_areas(classes_layer)
        self.setCollapsed(False)

    def next_suggestion(self, project, canvas) -> int:
        """Zoom `canvas` to the suggestion after the one shown (after the last: the first again)
        of the picked class map; returns its rank, 0 when the map has none."""
        layer = self.classes.currentLayer()
        suggestions = project.mapLayer(layer.customProperty(SUGGESTIONS, "")) if layer is not None else None
        features = sorted(suggestions.getFeatures(), key=lambda f: f["rank"]) if suggestions is not None else []
        if not features:
            self.suggestion.setText("This map has no suggestions (predict it again to get them).")
            return 0
        feature = next((f for f in features if f["rank"] > self.shown_rank), features[0])
        self.shown_rank = feature["rank"]
        geometry = feature.geometry()
        if suggestions.crs().isValid() and canvas.mapSettings().destinationCrs().isValid():
            geometry.transform(QgsCoordinateTransform(suggestions.crs(), canvas.mapSettings().destinationCrs(), project))
        box = geometry.boundingBox()
        box.scale(4.0)  # the region and what lies around it
        canvas.setExtent(box)
        canvas.refresh()
        self._outline(canvas, geometry)
        self.suggestion.setText(f"{feature['rank']} of {len(features)}: {feature['class']} or {feature['runner_up']}? "
                                f"(doubt {feature['score']:.2f})")
        return feature["rank"]

    def _outline(self, canvas, geometry) -> None:
        """Outline the suggested region (map coordinates) on `canvas`: no fill, so the pixels to
        label stay visible (a selection would paint them over)."""
        if self.highlight is None or self._highlight_canvas is not canvas:
            self.clear_highlight()
            self.highlight = QgsRubberBand(canvas, QgsWkbTypes.PolygonGeometry)
            self._highlight_canvas = canvas
            self.highlight.setStrokeColor(QColor(255, 0, 255))  # magenta: seen on imagery and class colours
            self.highlight.setFillColor(QColor(0, 0, 0, 0))
            self.highlight.setWidth(3)
        self.highlight.setToGeometry(geometry)  # already in map coordinates: nothing to transform

    def clear_highlight(self) -> None:
        if self.highlight is not None:
            try:
                self.highlight.reset(QgsWkbTypes.PolygonGeometry)
                self._highlight_canvas.scene().removeItem(self.highlight)
            except RuntimeError:  # the map canvas went first (QGIS closing): so did its items
                pass
        self.highlight, self._highlight_canvas = None, None

    def show_areas(self, layer) -> None:
        try:
            rows = areas_of(layer) if layer is not None else []
        except ValueError as e:
            self.say(str(e))
            rows = []
        headers, cells = map_layout.area_table(rows)
        self.areas.setHorizontalHeaderLabels(headers)
        self.areas.setRowCount(len(cells))
        for r, row in enumerate(cells):
            for c, text in enumerate(row):
                self.areas.setItem(r, c, QTableWidgetItem(text))
        self.areas.setVisible(bool(cells))

    def _layer_picked(self, layer) -> None:
        self.shown_rank = 0  # the next suggestion is the new map's first
        self.clear_highlight()
        self.suggestion.setText("")
        self.show_areas(layer)

    def content(self, project) -> map_layout.MapContent:
        """What the picked class map's layout shows; ValueError says what is missing."""
        layer = self.classes.currentLayer()
        if layer is None:
            raise ValueError("Pick a class map (a prediction's RASTER classes layer) to export.")
        source_path = layer.customProperty(SOURCE, "")
        source = next((l for l in project.mapLayers().values()
                       if source_path and l.id() != layer.id() and Path(l.source()) == Path(source_path)), None)
        confidence = project.mapLayer(layer.customProperty(CONFIDENCE, "")) if self.inset.isChecked() else None
        return map_layout.MapContent(self.title.text().strip() or layer.name(), layer, source, confidence,
                                     areas_of(layer))

    def say(self, text: str, error: bool = False) -> None:
        self.message.say(text, error)


def areas_of(layer) -> list:
    """The class-area rows of a class map the dock added ([] for any other layer, or once its
    folder is gone); ValueError for a table that is not one."""
    path = layer.customProperty(AREAS, "")
    if not path or not Path(path).is_file():
        return []
    return map_layout.read_areas(path)
