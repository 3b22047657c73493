"""The dock's "Training raster and labels" section: classes, label layers, and which rasters train.

The rule of which rasters count as labelled lives here (`labelled_rasters`); the section only
describes the labels, it writes no job.
"""
from pathlib import Path

from qgis.PyQt import sip
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor, QIcon, QPixmap
from qgis.PyQt.QtWidgets import QComboBox, QFileDialog, QFormLayout, QLabel, QPushButton, QSpinBox
from qgis.core import QgsMapLayerProxyModel, QgsPalettedRasterRenderer, QgsRasterLayer
from qgis.gui import QgsCollapsibleGroupBox, QgsMapLayerComboBox

from ..common import class_files
from ..common import classes as class_list
from ..common import label_layers, project_state
from ..segy import segy
from .class_table import ClassTable
from .notice import Notice

CLASS_FILES = "Classes (*.json *.qml *.tif *.tiff);;All files (*)"


class LabelsSection(QgsCollapsibleGroupBox):
    classNamesChanged = pyqtSignal(list)  # the class names, for parameters that name classes

    def __init__(self, project, canvas=None, parent=None):
        super().__init__("Training raster and labels", parent)
        self.project, self.canvas = project, canvas
        self._loading = False  # defaults are not written into a project the user has not touched
        self.raster_combo = QgsMapLayerComboBox()
        self.raster_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.raster_combo.setToolTip("The raster to label now, predicted after training. Every raster with "
                                     "label layers (and labels drawn) is trained from.")
        self.raster_combo.layerChanged.connect(self.show_label_layers)
        # Remembered when the user picks one: the combo also changes by itself as a project loads.
        self.raster_combo.activated.connect(
            lambda _: project_state.save_training_raster(self.project, self.raster_combo.currentLayer()))
        self.class_table = ClassTable()
        self.class_table.classesChanged.connect(self._classes_changed)
        self.class_table.classRemoved.connect(self._class_removed)
        self.class_table.loadRequested.connect(lambda: self.load_classes())
        self.active_class = QComboBox()
        self.active_class.setToolTip("New label features get this class; no form opens.")
        self.active_class.currentIndexChanged.connect(lambda _: self.sync_label_layers())
        self.line_width = QSpinBox()
        self.line_width.setRange(1, 50)
        self.line_width.setValue(3)
        self.line_width.setSuffix(" px")
        self.line_width.setToolTip("Scribbles are burned this many raster pixels wide, and drawn so.")
        self.line_width.valueChanged.connect(lambda _: self.sync_label_layers())
        self.open_segy_button = QPushButton("Open SEG-Y…")
        self.open_segy_button.setToolTip("Load inlines, crosslines and time slices of a SEG-Y volume as rasters "
                                         "to label (the engine cuts them; they keep a link to their traces).")
        self.new_layers_button = QPushButton("New label layers")
        self.new_layers_button.setToolTip("A GeoPackage with scribble, region and point layers for the raster.")
        self.labels_label, self.labelled_label, self.crs_note = QLabel(), QLabel(), QLabel()
        for label in (self.labels_label, self.labelled_label, self.crs_note):
            label.setWordWrap(True)
        self.labelled_label.setToolTip("Each of these rasters, with its own label layers, is a labelled "
                                       "raster of the job; the first one is predicted after training.")
        self.crs_note.hide()
        form = QFormLayout(self)
        form.addRow("Raster", self.raster_combo)
        form.addRow(self.open_segy_button)
        form.addRow(self.crs_note)
        form.addRow(self.class_table)
        form.addRow("Active class", self.active_class)
        form.addRow("Scribble width", self.line_width)
        form.addRow(self.new_layers_button)
        form.addRow(self.labels_label)
        form.addRow(self.labelled_label)
        self.notice = Notice()  # what "Open SEG-Y" and "New label layers" answer
        form.addRow(self.notice)
        project.layersAdded.connect(self._layers_added)
        project.layersRemoved.connect(self._label_features_changed)

    def dispose(self) -> None:
        self.project.layersAdded.disconnect(self._layers_added)
        self.project.layersRemoved.disconnect(self._label_features_changed)

    def load(self) -> None:
        """The (new) project's classes and training raster."""
        self._loading = True
        saved = class_list.load_from_project(self.project)
        self.class_table.set_classes(saved or class_list.default_classes(), auto_colors=not saved)
        saved = project_state.training_raster(self.project)
        if saved is not None:
            self.raster_combo.setLayer(saved)
        self._loading = False

    def load_classes(self, path: str = "") -> list:
        """Replace the classes with those of a classes.json, a .qml style or a styled class raster
        (asks which file when none is given); a file that is not one is refused in the notice."""
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Load classes", self.project.homePath(), CLASS_FILES)
            if not path:
                return []
        try:
            classes = self._styled_layer_classes(path) or class_files.read_classes(path)
        except ValueError as e:
            self.notice.say(str(e), error=True)
            return []
        self.class_table.set_classes(classes)
        self.notice.say(f"{len(classes)} classes from {Path(path).name}: " + ", ".join(c.name for c in classes) + ".")
        return classes

    def _styled_layer_classes(self, path: str) -> list:
        """The classes of a raster of the project loaded from `path` and styled paletted in QGIS
        (its style as shown, which may differ from the .qml beside it); [] for any other file."""
        layer = next((l for l in self.project.mapLayers().values()
                      if isinstance(l, QgsRasterLayer) and Path(l.source()) == Path(path)), None)
        renderer = layer.renderer() if layer is not None else None
        if not isinstance(renderer, QgsPalettedRasterRenderer):
            return []
        return class_files.from_palette([(c.value, c.label, c.color.name()) for c in renderer.classes()], layer.name())

    def class_names(self) -> list:
        return [c.name for c in self.class_table.classes()]

    def _classes_changed(self) -> None:
        current = self.active_class.currentIndex()
        self.active_class.blockSignals(True)
        self.active_class.clear()
        for seg_class in self.class_table.classes():
            pixmap = QPixmap(14, 14)
            pixmap.fill(QColor(seg_class.color))
            self.active_class.addItem(QIcon(pixmap), seg_class.name)
        self.active_class.setCurrentIndex(min(max(current, 0), self.active_class.count() - 1))
        self.active_class.blockSignals(False)
        self.classNamesChanged.emit(self.class_names())
        if not self._loading:
            class_list.save_to_project(self.class_table.classes(), self.project)
        self.sync_label_layers()

    def _layers_added(self, layers) -> None:
        labels = [l for l in layers if l.customProperty(label_layers.ROLE) == "labels"]
        for layer in labels:  # drawing on any raster's labels can change which rasters are used
            layer.featureAdded.connect(self._label_features_changed)
            layer.featureDeleted.connect(self._label_features_changed)
        if labels:
            self.sync_label_layers()

    def _label_features_changed(self, *_) -> None:
        if not sip.isdeleted(self):
            self.show_label_layers(self.raster_combo.currentLayer())

    def _class_removed(self, class_id: int) -> None:
        for layer in label_layers.all_label_layers(self.project):
            label_layers.remove_class(layer, class_id)

    def sync_label_layers(self) -> None:
        """Every label layer gets the table's classes and the active class."""
        classes = self.class_table.classes()
        for layer in label_layers.all_label_layers(self.project):
            source = self.project.mapLayer(layer.customProperty(label_layers.RASTER))
            pixel = source.rasterUnitsPerPixelX() if isinstance(source, QgsRasterLayer) else 1.0
            label_layers.apply_classes(layer, classes, self.line_width.value() * pixel)
            if self.active_class.currentIndex() >= 0:
                label_layers.set_active_class(layer, self.active_class.currentIndex())
        self.show_label_layers(self.raster_combo.currentLayer())

    def show_label_layers(self, raster) -> None:
        self._show_crs_note(raster)
        mine = label_layers.label_layers_for(raster.id(), self.project) if raster else []
        self.labels_label.setText(
            "Labels: " + ", ".join(l.name() for l in mine) if mine else
            "No label layers for this raster yet: press \"New label layers\".")
        used, left_out = self.labelled_rasters()
        text = "Labelled rasters: " + (", ".join(r.name() for r, _ in used) if used else "none yet")
        if left_out:
            text += " (left out, no labels drawn yet: " + ", ".join(r.name() for r in left_out) + ")"
        self.labelled_label.setText(text)

    def _show_crs_note(self, raster) -> None:
        """A raster without a CRS (a seismic section) has no place on the map: say how SemiSeg and
        QGIS treat it, instead of leaving it at a continental scale on the project's origin."""
        placeless = raster is not None and not raster.crs().isValid()
        self.crs_note.setVisible(placeless)
        if placeless:
            tie = segy.section_tie(raster.source())
            where = (f"it is {tie['kind']} {tie['line']} of {Path(tie['volume']).name}, drawn with x = trace along "
                     f"the line and y = -time / sample interval ({tie['sample_interval']:g} per unit), so QGIS's "
                     "scale and measure tool read in traces and samples" if tie else
                     "SemiSeg reads it, its labels and its maps in pixel coordinates (x = column, y = -row), "
                     "as QGIS draws it")
            self.crs_note.setText(f"{raster.name()} has no CRS: {where}. Every raster without a CRS lies at "
                                  "that same place: show one at a time.")
            self._bring_into_view(raster)

    def _bring_into_view(self, raster) -> None:
        """Zoom to a placeless raster that the map shows as a speck (or not at all): in a
        geographic project its pixels count as degrees, at a scale of 1:200 million."""
        if self.canvas is None:
            return
        extent = self.canvas.mapSettings().layerExtentToOutputExtent(raster, raster.extent())
        view = self.canvas.extent()
        shown = extent.intersect(view)
        if shown.isEmpty() or shown.area() < 0.01 * view.area():
            self.canvas.setExtent(extent)
            self.canvas.refresh()

    def labelled_rasters(self) -> tuple:
        """([(raster layer, its label layers)], [raster layers left out]) for training.

        The picked raster comes first (it is predicted) whenever it has label layers; then every
        other raster with label layers that hold at least one feature, by layer name. A raster
        whose label layers are all empty is left out (the engine refuses a raster without labels).
        """
        current = self.raster_combo.currentLayer()
        by_raster = {}
        for layer in label_layers.all_label_layers(self.project):
            raster = self.project.mapLayer(layer.customProperty(label_layers.RASTER) or "")
            if isinstance(raster, QgsRasterLayer):
                by_raster.setdefault(raster.id(), (raster, []))[1].append(layer)
        used, left_out = [], []
        if current is not None and current.id() in by_raster:
            used.append((current, label_layers.label_layers_for(current.id(), self.project)))
        for raster, layers in sorted(by_raster.values(), key=lambda item: (item[0].name(), item[0].id())):
            if current is not None and raster.id() == current.id():
                continue
            (used.append((raster, layers)) if any(l.featureCount() > 0 for l in layers)
             else left_out.append(raster))
        return used, left_out

    def new_label_layers(self, path: str = "") -> list:
        """Create the label GeoPackage for the selected raster (asks where when no path given);
        ValueError when no raster is picked."""
        raster = self.raster_combo.currentLayer()
        if raster is None:
            raise ValueError("Load a raster and pick it as the training raster first.")
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "New label layers", self.default_labels_path(raster),
                                                  "GeoPackage (*.gpkg)")
            if not path:
                return []
        layers = label_layers.create_label_layers(path, raster)
        self.project.addMapLayers(layers[::-1])  # points on top; layersAdded styles them
        for layer in layers:  # ready to draw, whichever kind of label the user picks first
            layer.startEditing()
        return layers

    def default_labels_path(self, raster) -> str:
        """Beside the project file, or beside the raster while the project is unsaved."""
        folder = self.project.homePath() or str(Path(raster.source()).parent)
        return str(Path(folder) / f"{raster.name()}_labels.gpkg")
