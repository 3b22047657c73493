"""The SemiSeg dock: classes and label layers, rasters, method, Train/Cancel, jobs, Predict.

It owns the GUI state only; files are written by `job`, processes run in `task.EngineTask`,
result layers are added by `results` when a task ends (on the GUI thread).
"""
from pathlib import Path

from qgis.PyQt import sip
from qgis.PyQt.QtCore import QTimer, QUrl, Qt
from qgis.PyQt.QtGui import QColor, QDesktopServices, QIcon, QPixmap, QTextCursor
from qgis.PyQt.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                                 QGroupBox, QListWidget, QListWidgetItem, QMenu, QMessageBox, QPlainTextEdit,
                                 QProgressBar, QPushButton, QScrollArea, QSpinBox, QToolButton, QVBoxLayout,
                                 QWidget)
from qgis.core import QgsApplication, QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsCollapsibleGroupBox, QgsDockWidget, QgsFileWidget, QgsMapLayerComboBox

from . import classes as class_list
from . import engine, job, job_registry, label_layers, map_area, project_state, results, settings
from .class_table import ClassTable
from .engine_setup import SetupEngineTask, ask_doctor, format_report, verdict
from .events import read_state
from .background import BackgroundCall
from .method_form import MethodCatalog, MethodForm, ask_engine, cached
from .paths import icon_path, plugin_version
from .task import EngineTask


class SemiSegDock(QgsDockWidget):
    def __init__(self, parent=None, canvas=None):
        super().__init__("SemiSeg", parent)
        self.setObjectName("SemiSegDock")
        self.project = QgsProject.instance()
        self.canvas = canvas  # the map view, for "predict the visible area only"
        self.task = None  # the running EngineTask (kept referenced while it runs)
        self.helper_task = None  # the set-up task
        self.methods_task = None  # asking the engine for its methods
        self.doctor_query = None  # asking the engine how it is
        self.catalog = None  # the engine's methods (MethodCatalog), once known
        self.current_job = None  # Path of the job shown in the progress area
        self._log_path = None  # console output of a run without a job (predict)
        self.log_view = None  # the log in a QGIS window, where no program opens text files
        self._loading = False
        self._disposed = False
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self._engine_group())
        layout.addWidget(self._labels_group())
        layout.addWidget(self._unlabeled_group())
        layout.addWidget(self._advanced_group())
        layout.addWidget(self._run_group())
        layout.addWidget(self._predict_group())
        layout.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # widgets shrink to the dock width
        scroll.setWidget(body)
        for combo in body.findChildren(QComboBox):  # long layer/job names must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.setWidget(scroll)
        self.project.readProject.connect(self.load_project_state)
        self.project.cleared.connect(self.load_project_state)
        self.project.layersAdded.connect(self._layers_added)
        self.project.layersRemoved.connect(self._layers_removed)
        self.load_project_state()
        self.load_methods()
        self.check_engine()
        # Jobs the dock does not follow (run from a terminal, or several after a restart) still
        # show their true state: the list reads their events again every few seconds.
        self.job_states_timer = QTimer(self)
        self.job_states_timer.setInterval(5000)
        self.job_states_timer.timeout.connect(self._refresh_job_states)
        self.job_states_timer.start()

    # ---- building the sections -------------------------------------------------------------
    def _engine_group(self):
        group = self.engine_group = QgsCollapsibleGroupBox("Engine")
        self.python_edit = QgsFileWidget()
        self.python_edit.setFilePath(settings.engine_python())
        self.python_edit.setToolTip("The Python of the engine's environment (where `semiseg` is installed).")
        self.python_edit.fileChanged.connect(settings.set_engine_python)
        self.python_edit.fileChanged.connect(lambda _: self.load_methods())
        self.python_edit.fileChanged.connect(lambda _: self.check_engine())
        check, setup = QPushButton("Check engine"), QPushButton("Set up engine")
        setup.setToolTip("Create a virtual environment in your QGIS profile and install the engine "
                         "(PyTorch included: a large download).")
        check.clicked.connect(self.check_engine)
        setup.clicked.connect(self.set_up_engine)
        self.engine_label = QLabel()
        self.engine_label.setWordWrap(True)
        self.engine_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addWidget(check)
        buttons.addWidget(setup)
        self.jobs_folder = QgsFileWidget()
        self.jobs_folder.setStorageMode(QgsFileWidget.GetDirectory)
        self.jobs_folder.setFilePath(settings.jobs_folder())
        self.jobs_folder.lineEdit().setPlaceholderText("next to the project")
        self.jobs_folder.setToolTip("Where new job folders go; empty = <project folder>/semiseg_jobs.")
        self.jobs_folder.fileChanged.connect(settings.set_jobs_folder)
        form = QFormLayout(group)
        form.addRow("Engine Python", self.python_edit)
        form.addRow("Jobs folder", self.jobs_folder)
        form.addRow(buttons)
        form.addRow(self.engine_label)
        group.setCollapsed(bool(settings.engine_python()))
        return group

    def _labels_group(self):
        group = QgsCollapsibleGroupBox("Training raster and labels")
        self.raster_combo = QgsMapLayerComboBox()
        self.raster_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.raster_combo.setToolTip("The raster to label now, predicted after training. Every raster with "
                                     "label layers (and labels drawn) is trained from.")
        self.raster_combo.layerChanged.connect(self._show_label_layers)
        # Remembered when the user picks one: the combo also changes by itself as a project loads.
        self.raster_combo.activated.connect(self._training_raster_picked)
        self.class_table = ClassTable()
        self.class_table.classesChanged.connect(self._classes_changed)
        self.class_table.classRemoved.connect(self._class_removed)
        self.active_class = QComboBox()
        self.active_class.setToolTip("New label features get this class; no form opens.")
        self.active_class.currentIndexChanged.connect(lambda _: self._sync_label_layers())
        self.line_width = QSpinBox()
        self.line_width.setRange(1, 50)
        self.line_width.setValue(3)
        self.line_width.setSuffix(" px")
        self.line_width.setToolTip("Scribbles are burned this many raster pixels wide, and drawn so.")
        self.line_width.valueChanged.connect(lambda _: self._sync_label_layers())
        new_layers = QPushButton("New label layers")
        new_layers.setToolTip("A GeoPackage with scribble, region and point layers for the raster.")
        new_layers.clicked.connect(lambda: self.new_label_layers())
        self.labels_label = QLabel()
        self.labels_label.setWordWrap(True)
        self.labelled_label = QLabel()
        self.labelled_label.setWordWrap(True)
        self.labelled_label.setToolTip("Each of these rasters, with its own label layers, is a labelled "
                                       "raster of the job; the first one is predicted after training.")
        self.crs_note = QLabel()
        self.crs_note.setWordWrap(True)
        self.crs_note.hide()
        form = QFormLayout(group)
        form.addRow("Raster", self.raster_combo)
        form.addRow(self.crs_note)
        form.addRow(self.class_table)
        form.addRow("Active class", self.active_class)
        form.addRow("Scribble width", self.line_width)
        form.addRow(new_layers)
        form.addRow(self.labels_label)
        form.addRow(self.labelled_label)
        return group

    def _unlabeled_group(self):
        group = QgsCollapsibleGroupBox("Unlabeled rasters")
        self.unlabeled = QListWidget()
        self.unlabeled.setMaximumHeight(80)
        add = QToolButton()
        add.setText("Add layer")
        add.setPopupMode(QToolButton.InstantPopup)
        add.setMenu(QMenu(add))
        add.menu().aboutToShow.connect(lambda: self._fill_layer_menu(add.menu()))
        files, remove = QPushButton("Add files…"), QPushButton("Remove")
        files.clicked.connect(self._add_unlabeled_files)
        remove.clicked.connect(self.remove_selected_unlabeled)
        buttons = QHBoxLayout()
        for w in (add, files, remove):
            buttons.addWidget(w)
        buttons.addStretch()
        layout = QVBoxLayout(group)
        layout.addWidget(self.unlabeled)
        layout.addLayout(buttons)
        group.setCollapsed(True)
        return group

    def _advanced_group(self):
        group = self.advanced_group = QgsCollapsibleGroupBox("Advanced")
        self.method = QComboBox()
        self.method.currentIndexChanged.connect(lambda _: self._method_chosen())
        self.method_summary = QLabel()
        self.method_summary.setWordWrap(True)
        self.method_summary.setStyleSheet("color: palette(dark);")
        self.method_note = QLabel()
        self.method_note.setWordWrap(True)
        self.method_note.hide()
        self.method_form = MethodForm()
        self.steps, self.tile_size, self.batch_size = QSpinBox(), QSpinBox(), QSpinBox()
        for spin, low, high, value, step in ((self.steps, 1, 1_000_000, 500, 100),
                                             (self.tile_size, 32, 4096, 256, 32),
                                             (self.batch_size, 1, 512, 8, 1)):
            spin.setRange(low, high)
            spin.setSingleStep(step)
            spin.setValue(value)
        self.tile_size.setSuffix(" px")
        self.tile_size.setToolTip("Window size in pixels (a multiple of 32).")
        self.device = QComboBox()
        self.device.addItems(job.DEVICES)
        self.init_model = QgsFileWidget()
        self.init_model.setStorageMode(QgsFileWidget.GetDirectory)
        self.init_model.setToolTip("Optional: a model folder (JOB_DIR/model) of the same classes to start from. "
                                   "After correcting labels where the last model was unsure, training goes on "
                                   "from what it learned instead of from random weights.")
        self.polygons = QCheckBox("Class polygons with every prediction")
        self.polygons.setToolTip("After training and with \"Predict with a model\": also write the predicted "
                                 "classes as polygons (GeoPackage, styled like the class raster); regions "
                                 "under 16 pixels merge into a neighbour first.")
        params = QGroupBox("Method parameters")
        params.setToolTip("Only values changed from their defaults go into the job (docs/methods.md).")
        params_layout = QVBoxLayout(params)
        params_layout.setContentsMargins(6, 4, 6, 4)
        params_layout.addWidget(self.method_form)
        form = QFormLayout(group)
        form.addRow("Method", self.method)
        form.addRow(self.method_summary)
        form.addRow(self.method_note)
        form.addRow(params)
        form.addRow("Steps", self.steps)
        form.addRow("Tile size", self.tile_size)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Device", self.device)
        form.addRow("Start from model", self.init_model)
        form.addRow(self.polygons)
        group.setCollapsed(True)
        self._show_methods(cached(settings.engine_python()) or MethodCatalog.fallback(""))
        return group

    def _run_group(self):
        group = QgsCollapsibleGroupBox("Train")
        self.train_button = QPushButton(QIcon(icon_path("train.svg")), "Train")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.train_button.clicked.connect(lambda: self.start_training())
        self.quick_button = QPushButton("Quick map")
        self.quick_button.setToolTip("A first map in about a minute from the same labels: a random forest on per-pixel "
                                     "filter features, the classic pixel classifier. Train the deep model after it.")
        self.quick_button.clicked.connect(lambda: self.start_training(quick=True))
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status_label = QLabel("No job yet.")
        self.status_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_label.hide()
        self.log_button = QPushButton("Open log")
        self.log_button.setEnabled(False)
        self.log_button.clicked.connect(self.open_log)
        self.jobs = QComboBox()
        self.jobs.setToolTip("Jobs of this project and recent ones; their events.jsonl tells their state.")
        self.jobs.activated.connect(lambda _: self.show_job(Path(self.jobs.currentData())))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue an interrupted or cancelled job from its last checkpoint.")
        self.resume_button.clicked.connect(lambda: self.start_training(resume=self.current_job))
        self.add_results_button = QPushButton("Add results")
        self.add_results_button.clicked.connect(lambda: self.add_results(self.current_job))
        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.quick_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.log_button)
        job_row = QHBoxLayout()
        job_row.addWidget(self.resume_button)
        job_row.addWidget(self.add_results_button)
        layout = QVBoxLayout(group)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        self.detach_note = QLabel("Closing QGIS leaves this training running (the engine is its own process); "
                                  "the dock follows it again when the project is opened.")
        self.detach_note.setWordWrap(True)
        self.detach_note.hide()
        layout.addWidget(self.detach_note)
        layout.addWidget(self.error_label)
        layout.addWidget(QLabel("Jobs"))
        layout.addWidget(self.jobs)
        layout.addLayout(job_row)
        return group

    def _predict_group(self):
        group = QgsCollapsibleGroupBox("Predict with a model")
        self.model_dir = QgsFileWidget()
        self.model_dir.setStorageMode(QgsFileWidget.GetDirectory)
        self.model_dir.setToolTip("A model folder (JOB_DIR/model) from an earlier training.")
        self.predict_raster = QgsMapLayerComboBox()
        self.predict_raster.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.predict_button = QPushButton(QIcon(icon_path("predict.svg")), "Predict")
        self.predict_button.clicked.connect(lambda: self.start_prediction())
        form = QFormLayout(group)
        form.addRow("Model folder", self.model_dir)
        self.visible_only = QCheckBox("Only the visible map area")
        self.visible_only.setToolTip("Predict only the raster's pixels inside the map view: a quick look at "
                                     "a large raster before predicting all of it.")
        self.visible_only.setEnabled(self.canvas is not None)
        form.addRow("Raster", self.predict_raster)
        form.addRow(self.visible_only)
        form.addRow(self.predict_button)
        group.setCollapsed(True)
        return group

    # ---- methods --------------------------------------------------------------------------------
    def load_methods(self) -> None:
        """Ask the configured engine for its methods (once per engine Python, in the background)."""
        python = self.python_edit.filePath()
        if cached(python) is not None:
            self._show_methods(cached(python))
            return
        if not python:
            self._show_methods(MethodCatalog.fallback(
                "No engine configured: only \"supervised\" is offered until one is set."))
            return
        self.method_note.setText("Asking the engine for its methods…")
        self.method_note.show()
        query = self.methods_task = BackgroundCall(lambda: ask_engine(python))
        query.answered.connect(self._methods_answered)  # a slot of the dock: queued onto the GUI thread
        query.start()

    def _methods_answered(self, query: BackgroundCall) -> None:
        if self._disposed or sip.isdeleted(self) or query is not self.methods_task:
            return  # a newer question is on its way
        self.methods_task = None
        self._show_methods(query.result)

    def _show_methods(self, catalog: MethodCatalog) -> None:
        """Fill the method combo: the engine's default first; multi-domain methods disabled."""
        # a method the user picked stays picked; otherwise the (new) engine's default
        current = self.method.currentData()
        if self.catalog is not None and current == self.catalog.default:
            current = catalog.default
        self.catalog = catalog
        self.method.blockSignals(True)
        self.method.clear()
        for name in catalog.names():
            info = catalog.methods[name]
            self.method.addItem(f"{name} (default)" if name == catalog.default else name, name)
            item = self.method.model().item(self.method.count() - 1)
            if info.get("needs_domains"):
                item.setEnabled(False)
                item.setToolTip(f"{info.get('summary', '')}\nNeeds a job with several domains (label "
                                "spaces), which the dock does not build: write job.json by hand.")
            else:
                item.setToolTip(info.get("summary", ""))
        self.method.setCurrentIndex(max(self.method.findData(current), 0))
        self.method.blockSignals(False)
        self.method_note.setText(catalog.note)
        self.method_note.setVisible(bool(catalog.note))
        self._method_chosen()

    def _method_chosen(self) -> None:
        if self._disposed or sip.isdeleted(self) or sip.isdeleted(self.method):
            return  # a combo being destroyed signals its index going to -1
        name = self.method.currentData()
        info = self.catalog.methods.get(name, {}) if self.catalog else {}
        self.method.setToolTip(info.get("summary", ""))
        self.method_summary.setText(info.get("summary", ""))
        self.method_form.set_class_names([c.name for c in self.class_table.classes()])
        self.method_form.set_schema(info.get("parameters") or {})

    # ---- classes and label layers ------------------------------------------------------------
    def load_project_state(self) -> None:
        """Classes and jobs of the (new) project; follow a job that is still running."""
        self._loading = True  # defaults are not written into a project the user has not touched
        self.class_table.set_classes(class_list.load_from_project(self.project) or class_list.default_classes())
        self.unlabeled.clear()  # the last project's rasters are not this one's
        for path, name in project_state.unlabeled(self.project):
            self.add_unlabeled(path, name)
        saved = project_state.training_raster(self.project)
        if saved is not None:
            self.raster_combo.setLayer(saved)
        self._loading = False
        self._fill_jobs()
        running = [j for j in job_registry.known_jobs(self.project) if read_state(j).status == "running"]
        if running and self.task is None:
            self.attach(running[-1])

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
        self.method_form.set_class_names([c.name for c in self.class_table.classes()])
        if not self._loading:
            class_list.save_to_project(self.class_table.classes(), self.project)
        self._sync_label_layers()

    def _layers_added(self, layers) -> None:
        labels = [l for l in layers if l.customProperty(label_layers.ROLE) == "labels"]
        for layer in labels:  # drawing on any raster's labels can change which rasters are used
            layer.featureAdded.connect(self._label_features_changed)
            layer.featureDeleted.connect(self._label_features_changed)
        if labels:
            self._sync_label_layers()

    def _layers_removed(self, _ids) -> None:
        self._label_features_changed()

    def _label_features_changed(self, *_) -> None:
        if not self._disposed and not sip.isdeleted(self):
            self._show_label_layers(self.raster_combo.currentLayer())

    def _class_removed(self, class_id: int) -> None:
        for layer in label_layers.all_label_layers(self.project):
            label_layers.remove_class(layer, class_id)

    def _sync_label_layers(self) -> None:
        """Every label layer gets the table's classes and the active class."""
        classes = self.class_table.classes()
        for layer in label_layers.all_label_layers(self.project):
            source = self.project.mapLayer(layer.customProperty(label_layers.RASTER))
            pixel = source.rasterUnitsPerPixelX() if isinstance(source, QgsRasterLayer) else 1.0
            label_layers.apply_classes(layer, classes, self.line_width.value() * pixel)
            if self.active_class.currentIndex() >= 0:
                label_layers.set_active_class(layer, self.active_class.currentIndex())
        self._show_label_layers(self.raster_combo.currentLayer())

    def _show_label_layers(self, raster) -> None:
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
            self.crs_note.setText(
                f"{raster.name()} has no CRS: SemiSeg reads it, its labels and its maps in pixel "
                "coordinates (x = column, y = -row), as QGIS draws it. Every raster without a CRS "
                "lies at that same place: show one at a time.")
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
        """Create the label GeoPackage for the selected raster (asks where when no path given)."""
        raster = self.raster_combo.currentLayer()
        if raster is None:
            self.show_error("Load a raster and pick it as the training raster first.")
            return []
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "New label layers", self.default_labels_path(raster),
                                                  "GeoPackage (*.gpkg)")
            if not path:
                return []
        layers = label_layers.create_label_layers(path, raster)
        self.project.addMapLayers(layers[::-1])  # points on top; layersAdded styles them
        scribbles = next((l for l in layers if "scribbles" in l.name()), None)
        if scribbles is not None:  # ready to draw: the user's next step
            scribbles.startEditing()
        return layers

    def default_labels_path(self, raster) -> str:
        """Beside the project file, or beside the raster while the project is unsaved."""
        folder = self.project.homePath() or str(Path(raster.source()).parent)
        return str(Path(folder) / f"{raster.name()}_labels.gpkg")

    # ---- unlabeled rasters -------------------------------------------------------------------
    def _fill_layer_menu(self, menu: QMenu) -> None:
        menu.clear()
        for layer in self.project.mapLayers().values():
            if isinstance(layer, QgsRasterLayer) and layer.providerType() == "gdal":
                menu.addAction(layer.name(), lambda l=layer: self.add_unlabeled(l.source(), l.name()))

    def _training_raster_picked(self, _index: int) -> None:
        if not self._disposed:
            project_state.save_training_raster(self.project, self.raster_combo.currentLayer())

    def _add_unlabeled_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Unlabeled rasters", "",
                                                "Rasters (*.tif *.tiff *.vrt *.img *.jp2);;All files (*)")
        for path in paths:
            self.add_unlabeled(path)

    def add_unlabeled(self, path: str, name: str = "") -> None:
        item = QListWidgetItem(name or Path(path).name)
        item.setData(Qt.UserRole, path)
        item.setToolTip(path)
        self.unlabeled.addItem(item)
        self._save_unlabeled()

    def remove_selected_unlabeled(self) -> None:
        for item in self.unlabeled.selectedItems():
            self.unlabeled.takeItem(self.unlabeled.row(item))
        self._save_unlabeled()

    def unlabeled_paths(self) -> list:
        return [self.unlabeled.item(i).data(Qt.UserRole) for i in range(self.unlabeled.count())]

    def _save_unlabeled(self) -> None:
        if not self._loading:
            project_state.save_unlabeled(self.project, [(self.unlabeled.item(i).data(Qt.UserRole),
                                                         self.unlabeled.item(i).text())
                                                        for i in range(self.unlabeled.count())])

    # ---- training ------------------------------------------------------------------------------
    def job_request(self) -> job.JobRequest:
        """The job the dock's current state describes; ValueError says what is missing."""
        raster = self.raster_combo.currentLayer()
        if raster is None or raster.providerType() != "gdal":
            raise ValueError("Pick a training raster that is a file (GeoTIFF, VRT, ...).")
        layers = label_layers.label_layers_for(raster.id(), self.project)
        if not layers:
            raise ValueError("The training raster has no label layers: press \"New label layers\" and draw.")
        classes = self.class_table.classes()
        if len(classes) < 2 or any(not c.name for c in classes):
            raise ValueError("Define at least two classes, each with a name.")
        if self.tile_size.value() % 32:  # the engine would refuse it only after starting
            raise ValueError(f"Tile size {self.tile_size.value()} px is not a multiple of 32 (the networks "
                             f"downsample by 32): use {32 * max(1, round(self.tile_size.value() / 32))} px.")
        labeled = self.labelled_rasters()[0]  # the picked raster first
        for other, _ in labeled[1:]:
            if other.providerType() != "gdal":
                raise ValueError(f"The labelled raster {other.name()} is not a file (GeoTIFF, VRT, ...): "
                                 "remove its label layers or load it from a file.")
        for path in self.unlabeled_paths():  # the engine would refuse it only after reading the labels
            bands = project_state.band_count(path)
            if bands and bands != raster.bandCount():
                raise ValueError(f"The unlabeled raster {Path(path).name} has {bands} band(s), the training raster "
                                 f"{raster.name()} {raster.bandCount()}: remove it from Unlabeled rasters.")
        return job.JobRequest(
            classes=classes, labeled=[job.LabeledRaster(r.source(), l) for r, l in labeled],
            unlabeled=self.unlabeled_paths(),
            method=self.method.currentData(), method_params=self.method_form.values(), steps=self.steps.value(),
            tile_size=self.tile_size.value(), batch_size=self.batch_size.value(),
            line_width_px=self.line_width.value(), device=self.device.currentText(),
            polygons=self.polygons.isChecked(), init_from=job.start_model(self.init_model.filePath()))

    def write_job(self, job_dir: Path = None, quick: bool = False) -> Path:
        """Write the job directory for the current state (`quick`: for the pixel classifier); returns JOB_DIR."""
        request = job.quick_map(self.job_request()) if quick else self.job_request()
        prefix = "quick-" if quick else ""
        job_dir = Path(job_dir) if job_dir else job.new_job_dir(settings.jobs_folder(), self.project, prefix)
        job.write_job(job_dir, request)
        job_registry.remember(job_dir, self.project)
        self.current_job = job_dir
        self._fill_jobs()
        return job_dir

    def start_training(self, job_dir: Path = None, resume: Path = None, quick: bool = False):
        """Write a new job (or resume one) and run `semiseg train` in a QgsTask; `quick`: a Quick map."""
        if self.task is not None:
            self.show_error("A job is already running: cancel it or wait for it to end.")
            return None
        try:
            if resume is None:
                job_dir, extra = self.write_job(job_dir, quick), []
            else:
                job_dir, extra = Path(resume), ["--resume"]  # the engine clears an old cancel request itself
            args = engine.command(self.python_edit.filePath(), "train", str(job_dir), "--quiet",
                                  "--device", self.device.currentText(), *extra)
        except (ValueError, OSError, engine.EngineError) as e:
            self.show_error(str(e))
            return None
        return self._run(EngineTask(f"SemiSeg: train {job_dir.name}", args, job_dir, job_dir / "console.txt"),
                         job_dir)

    def attach(self, job_dir: Path):
        """Follow a job started by an earlier QGIS session until it ends."""
        return self._run(EngineTask(f"SemiSeg: train {job_dir.name}", None, job_dir,
                                    job_dir / "console.txt"), job_dir)

    def start_prediction(self, out_dir: Path = None):
        model, raster = self.model_dir.filePath(), self.predict_raster.currentLayer()
        if not model or raster is None:
            self.show_error("Pick a model folder and a raster to predict.")
            return None
        area = []
        if self.visible_only.isChecked() and self.canvas is not None:
            part = map_area.part_of_layer(self.canvas.extent(), self.canvas.mapSettings().destinationCrs(),
                                          raster, self.project)
            if part is None:
                self.show_error(f"The map view shows no part of {raster.name()}.")
                return None
            area = map_area.bounds_args(part)
        out_dir = Path(out_dir) if out_dir else job.new_job_dir(settings.jobs_folder(), self.project, "predict-")
        try:
            args = engine.command(self.python_edit.filePath(), "predict", model, raster.source(),
                                  "--out", str(out_dir), "--device", self.device.currentText(), "--quiet",
                                  "--events", *area, *(["--polygons"] if self.polygons.isChecked() else []))
        except engine.EngineError as e:
            self.show_error(str(e))
            return None
        task = EngineTask(f"SemiSeg: predict {raster.name()}", args, out_dir, out_dir / "console.txt",
                          predict=True)
        source, layer_id = raster.source(), raster.id()  # the layer may be gone when the run ends
        task.ended.connect(lambda state: self._prediction_ended(state, out_dir, source, layer_id))
        return self._run(task, None, out_dir / "console.txt")

    def _run(self, task: EngineTask, job_dir, log: Path = None) -> EngineTask:
        self.task, self.current_job = task, job_dir
        self._log_path = log
        task.stateChanged.connect(self._show_state)
        task.ended.connect(self._task_ended)
        for button in (self.train_button, self.quick_button, self.predict_button):
            button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.log_button.setEnabled(True)
        self.error_label.hide()
        self.progress.setRange(0, 0)  # busy until the first progress event
        self.status_label.setText("starting the engine…")
        self.detach_note.setVisible(not task.predict)
        self._fill_jobs()
        QgsApplication.taskManager().addTask(task)
        return task

    def cancel(self) -> None:
        if self.task is not None:
            self.status_label.setText("cancelling the prediction…" if self.task.predict
                                      else "cancelling: the engine writes a checkpoint and stops…")
            self.task.cancel()

    def _show_state(self, state) -> None:
        if state.total:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(100 * state.step / state.total))
        self.status_label.setText(state.summary())
        index = self.jobs.findData(str(self.current_job)) if self.current_job is not None else -1
        if index >= 0:  # the Jobs list follows the run, not the state it had when the run started
            self.jobs.setItemText(index, self._job_item_text(self.current_job, state.status))

    def _task_ended(self, state) -> None:
        self.task = None
        self.detach_note.hide()
        for button in (self.train_button, self.quick_button, self.predict_button):
            button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 100)
        self._show_state(state)
        self._fill_jobs(show=self.current_job is not None)  # a prediction's state stays in view
        if state.status == "completed" and self.current_job is not None:
            self.add_results(self.current_job)
            self.model_dir.setFilePath(str(self.current_job / "model"))
        elif state.status in ("failed", "interrupted"):
            # This run's error, after the job's: a run refused before it could write events (the
            # job is another engine's) leaves the job's own state as it was.
            self.show_error(state.error_text() or "The engine stopped unexpectedly.")

    def _prediction_ended(self, state, out_dir: Path, source: str, layer_id: str) -> None:
        if state.status == "completed":
            self._add_group(out_dir, source, f"SemiSeg prediction {out_dir.name}", self.project.mapLayer(layer_id))

    def add_results(self, job_dir: Path) -> list:
        """Add the prediction layers of a completed job, one group per predicted raster."""
        try:
            spec = job.read_spec(job_dir)
        except (OSError, ValueError) as e:
            self.show_error(f"{job_dir / 'job.json'}: cannot read the job ({e})")
            return []
        groups = []
        for raster_path in spec.get("predict", []):
            source = next((l for l in self.project.mapLayers().values()
                           if isinstance(l, QgsRasterLayer) and l.source() == raster_path), None)
            group = self._add_group(job_dir / "outputs", raster_path, f"SemiSeg {job_dir.name}", source)
            if group is not None:
                groups.append(group)
        return groups

    def _add_group(self, outputs: Path, raster_path: str, name: str, source):
        try:
            return results.add_prediction(outputs, raster_path, name, self.project, source)
        except OSError as e:
            self.show_error(str(e))
            return None

    # ---- jobs, errors, log -----------------------------------------------------------------------
    def _fill_jobs(self, show: bool = True) -> None:
        self.jobs.clear()
        for job_dir in reversed(job_registry.known_jobs(self.project)):
            self.jobs.addItem(self._job_item_text(job_dir, read_state(job_dir).status), str(job_dir))
        self.resume_button.setEnabled(False)
        self.add_results_button.setEnabled(False)
        if self.current_job is not None:
            self.jobs.setCurrentIndex(max(self.jobs.findData(str(self.current_job)), 0))
        if self.jobs.count() and show:
            self.show_job(Path(self.jobs.currentData()))

    def _refresh_job_states(self) -> None:
        if self._disposed:
            return
        for index in range(self.jobs.count()):
            job_dir = Path(self.jobs.itemData(index))
            if self.task is not None and job_dir == self.current_job:
                continue  # the followed run updates its own line
            self.jobs.setItemText(index, self._job_item_text(job_dir, read_state(job_dir).status))

    @staticmethod
    def _job_item_text(job_dir: Path, status: str) -> str:
        return f"{job_dir.name} — {status} · {job_registry.format_size(job_registry.disk_use(job_dir))}"

    def show_job(self, job_dir: Path) -> None:
        """Show a job's state (from its events) and what can be done with it."""
        if self.task is not None:
            return
        self.current_job, self._log_path = job_dir, None
        state = read_state(job_dir)
        self.status_label.setText(f"{job_dir.name}: {state.summary()}")
        self.progress.setValue(int(100 * state.step / state.total) if state.total else 0)
        self.resume_button.setEnabled(state.status in ("cancelled", "interrupted") and
                                      (job_dir / "checkpoints" / "last.ckpt").is_file())
        self.add_results_button.setEnabled(state.status == "completed")
        self.log_button.setEnabled(True)
        self.error_label.setVisible(state.status == "failed")
        self.error_label.setText(state.error_text())

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def log_path(self) -> Path:
        """The engine's log.txt of the current job, else the console output of the last run."""
        if self.current_job is not None and (self.current_job / "log.txt").is_file():
            return self.current_job / "log.txt"
        if self._log_path is not None:  # a prediction: the engine's log.txt beside its console output
            engine_log = self._log_path.parent / "log.txt"
            return engine_log if engine_log.is_file() else self._log_path
        return self.current_job / "console.txt" if self.current_job else None

    def open_log(self) -> None:
        path = self.log_path()
        if path is None or not path.is_file():
            QMessageBox.information(self, "SemiSeg", "There is no log yet.")
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):  # no program opens text files here
            self.log_view = QDialog(self)
            self.log_view.setWindowTitle(f"SemiSeg log: {path}")
            text = QPlainTextEdit(path.read_text(errors="replace")[-200_000:])  # the end is what tells
            text.setReadOnly(True)
            text.moveCursor(QTextCursor.End)
            QVBoxLayout(self.log_view).addWidget(text)
            self.log_view.resize(800, 500)
            self.log_view.show()

    # ---- engine set-up ---------------------------------------------------------------------------
    def check_engine(self) -> None:
        """Ask the engine how it is (in the background); the verdict goes on the Engine section's title."""
        python = self.python_edit.filePath()
        if not python:
            self._show_engine_status("No engine yet: press \"Set up engine\", or pick an engine Python.", "")
            return
        self._show_engine_status("Engine: checking…", "")
        query = self.doctor_query = BackgroundCall(lambda: ask_doctor(python))
        query.answered.connect(self._doctor_answered)
        query.start()

    def _doctor_answered(self, query: BackgroundCall) -> None:
        if self._disposed or sip.isdeleted(self) or query is not self.doctor_query:
            return  # the engine Python changed since
        self.doctor_query = None
        report, error = query.result
        if report is None:
            self._show_engine_status(f"Engine not usable: {error}", "")
        else:
            self._show_engine_status(verdict(report, plugin_version()), format_report(report))

    def _show_engine_status(self, line: str, details: str) -> None:
        """Always in view: on the Engine section's title (seen collapsed too) and below its buttons."""
        self.engine_group.setTitle(f"Engine — {line}")
        self.engine_label.setText(line)
        self.engine_label.setToolTip(details)
        self.engine_group.setToolTip(details)

    def set_up_engine(self) -> None:
        task = SetupEngineTask()
        source = f"the wheels in {task.wheels}" if task.wheels else "PyPI"
        self._show_engine_status(f"Engine: installing into {task.venv} from {source}…", f"log: {task.log}")
        task.taskCompleted.connect(lambda: (self.python_edit.setFilePath(task.python), self.check_engine()))
        task.taskTerminated.connect(lambda: self._show_engine_status(
            "Engine set-up cancelled." if task.error == "cancelled" else "Engine set-up failed: " + task.error,
            f"log: {task.log}"))
        self.helper_task = task
        QgsApplication.taskManager().addTask(task)

    def dispose(self) -> None:
        """Disconnect from the project and from running tasks when the plugin unloads.

        An engine run goes on (it is its own process); the next dock follows a training run again.
        """
        if self._disposed:
            return
        self._disposed = True
        self.job_states_timer.stop()
        if self.helper_task is not None and not sip.isdeleted(self.helper_task):
            _disconnect(self.helper_task.taskCompleted, self.helper_task.taskTerminated)
        if self.task is not None:
            _disconnect(self.task.stateChanged, self.task.ended)
            self.task.detach()
            self.task = None
        self.project.readProject.disconnect(self.load_project_state)
        self.project.cleared.disconnect(self.load_project_state)
        self.project.layersAdded.disconnect(self._layers_added)
        self.project.layersRemoved.disconnect(self._layers_removed)
        self.methods_task = None


def _disconnect(*signals) -> None:
    """Drop every slot of these signals: the dock's widgets they would update are going away."""
    for signal in signals:
        try:
            signal.disconnect()
        except TypeError:  # nothing connected
            pass
