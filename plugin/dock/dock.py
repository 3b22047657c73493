"""The SemiSeg dock: its sections side by side, a job request built from them, and runs handed on.

Each section owns its widgets (engine_section, labels_section, unlabeled_section,
options_section, predict_section, map_section, jobs_section); files are written by `job`, runs are owned by
`job_controller.JobController`, result layers are added by `results` when a run ends (on the
GUI thread); `map_refresh` maps again after "Train again", `exports` writes the map and ONNX.
"""
from pathlib import Path

from qgis.PyQt import sip
from qgis.PyQt.QtCore import QTimer, Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QScrollArea, QVBoxLayout, QWidget
from qgis.core import QgsProject, QgsRasterLayer
from qgis.gui import QgsCollapsibleGroupBox, QgsDockWidget

from ..common import settings
from ..common.paths import icon_path
from ..engine_process import engine
from ..engine_process.job_controller import JobController
from ..jobs import job, job_registry
from ..jobs.events import read_state
from ..jobs.jobdir import JobDir
from ..maps import results
from ..maps.exports import Exports
from ..maps.map_refresh import MapRefresh
from ..segy import segy
from ..segy.segy_open import SegyOpener
from .engine_section import EngineSection
from .jobs_section import JobsSection
from .labels_section import LabelsSection
from .map_section import MapSection
from .notice import Notice
from .options_section import OptionsSection
from .predict_section import PredictSection
from .unlabeled_section import UnlabeledSection
from . import wheel_guard


class SemiSegDock(QgsDockWidget):
    def __init__(self, parent=None, canvas=None):
        super().__init__("SemiSeg", parent)
        self.setObjectName("SemiSegDock")
        self.project = QgsProject.instance()
        self.canvas = canvas
        self._disposed = False
        self.controller = JobController(self)
        self.controller.started.connect(self._run_started)
        self.engine = EngineSection()
        self.labels = LabelsSection(self.project, canvas)
        self.unlabeled = UnlabeledSection(self.project)
        self.options = OptionsSection(self.engine.python())
        self.predict = PredictSection(canvas)
        self.map = MapSection()
        self.map.exportMapRequested.connect(lambda: self.export_map())
        self.map.exportOnnxRequested.connect(lambda: self.export_onnx())
        self.map.nextSuggestionRequested.connect(lambda: self.next_suggestion())
        self.exports = Exports(self)
        self.refresh = MapRefresh(self)
        self.runs = JobsSection()
        self.segy = SegyOpener(self.project, self)
        self.segy.opened.connect(lambda layers: self.labels.raster_combo.setLayer(layers[0]))  # ready to label
        self.segy.opened.connect(lambda layers: self.zoom_to(layers[0]))
        self.segy.failed.connect(lambda text: self.refuse(self.labels.notice, text))
        self.labels.open_segy_button.clicked.connect(lambda: self.open_segy())
        self.engine.pythonChanged.connect(self.options.load_methods)
        self.engine.reportReceived.connect(lambda report: self.predict.offer_gpus(len(report.get("gpus") or [])))
        self.labels.classNamesChanged.connect(self.options.set_class_names)
        self.labels.new_layers_button.clicked.connect(lambda: self.new_label_layers())
        self.predict.predict_button.clicked.connect(lambda: self.start_prediction())
        self.runs.cancelRequested.connect(self.cancel)
        self.runs.resumeRequested.connect(lambda job_dir: self.start_training(resume=job_dir))
        self.runs.addResultsRequested.connect(self.add_results)
        body = QWidget()
        layout = QVBoxLayout(body)
        for section in (self.engine, self.labels, self.unlabeled, self.options, self._train_group(),
                        self.predict, self.map, self.runs):
            layout.addWidget(section)
        layout.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # Widgets shrink to the dock's width down to their minimum; below it (QGIS gives a dock about
        # 300 px) the dock scrolls sideways, never cutting a button off (issue 41, item 10)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        scroll.setWidget(body)
        self.scroll = scroll
        for combo in body.findChildren(QComboBox):  # long layer/job names must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        wheel_guard.guard(body)  # scrolling the dock changes no setting
        self.setWidget(scroll)
        self.project.readProject.connect(self.load_project_state)
        self.project.cleared.connect(self.load_project_state)
        self.load_project_state()
        self.options.load_methods(self.engine.python())
        self.engine.check_engine()

    def _train_group(self) -> QgsCollapsibleGroupBox:
        group = QgsCollapsibleGroupBox("Train")
        self.train_button = QPushButton(QIcon(icon_path("train.svg")), "Train")
        self.train_button.clicked.connect(lambda: self.start_training())
        self.quick_button = QPushButton("Quick map")
        self.quick_button.setToolTip("A first map from the same labels in a few minutes on a CPU (2 to 3 minutes for "
                                     "a 1126 x 1058 px tile on a busy 2-core machine, README): a random forest on "
                                     "per-pixel filter features, the classic pixel classifier. Train the deep model after it.")
        self.quick_button.clicked.connect(lambda: self.start_training(quick=True))
        self.again_button = QPushButton("Train again")
        self.again_button.setToolTip(f"Continue the last model of this raster with the labels as they are now "
                                     f"({job.RETRAIN_STEPS} steps of {job.RETRAIN_TILE}-px windows), then map the "
                                     "visible area first and the whole "
                                     "raster after it.")
        self.again_button.clicked.connect(lambda: self.train_again())
        self.train_notice = Notice()  # what the three buttons answer, right under them
        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.quick_button)
        row.addWidget(self.again_button)
        column = QVBoxLayout(group)
        column.addLayout(row)
        column.addWidget(self.train_notice)
        return group

    def refuse(self, notice: Notice, text: str, error: bool = True) -> None:
        """Say `text` under the buttons `notice` belongs to, scrolled into view (notice.py)."""
        notice.say(text, error)
        if text:
            for widget in (notice.parentWidget(), self.scroll.widget()):  # its place, now that it shows
                widget.layout().activate()
            across = self.scroll.horizontalScrollBar().value()
            self.scroll.ensureWidgetVisible(notice)
            self.scroll.horizontalScrollBar().setValue(across)  # up or down only: a wrapped text starts at the left

    def load_project_state(self) -> None:
        """Classes, rasters and jobs of the (new) project; follow every job that is still running.

        Nothing of the last project stays: Predict's model, the export message, the suggestion shown."""
        self.labels.load()
        self.unlabeled.load()
        self.predict.model_dir.setFilePath("")
        self.map.say("")
        self.map.clear_highlight()
        self.map.suggestion.setText("")
        self.map.shown_rank = 0
        self.runs.project_changed(job_registry.known_jobs(self.project))
        for job_dir in job_registry.known_jobs(self.project):  # oldest first: the newest ends up shown
            if not JobDir(job_dir).is_prediction_run and read_state(job_dir).status == "running":
                self.controller.attach(job_dir)

    def open_segy(self, volume: str = "", selection=None):
        """Load lines and slices of a SEG-Y volume as layers ready to label (segy_open.SegyOpener)."""
        return self.segy.open(self.engine.python(), volume, selection, self)

    def zoom_to(self, layer) -> None:
        """Show `layer` (just opened) on the map, now and once more after QGIS's own zoom.

        QGIS zooms a project's first layers to their union: a section (traces and samples, no
        CRS) with a time slice (CDP coordinates) is a 1:22 million view where neither shows. QGIS
        does it when its layer tree bridge next runs (a queued call), so the zoom is repeated
        after that (a timer, run after the queued calls)."""
        if self.canvas is None:
            return

        def zoom():
            if self._disposed or sip.isdeleted(self.canvas) or sip.isdeleted(layer):
                return
            self.canvas.setExtent(self.canvas.mapSettings().layerExtentToOutputExtent(layer, layer.extent()))
            self.canvas.refresh()
        zoom()
        QTimer.singleShot(0, zoom)

    def new_label_layers(self, path: str = "") -> list:
        try:
            return self.labels.new_label_layers(path)
        except ValueError as e:
            self.refuse(self.labels.notice, str(e))
            return []

    # ---- training ------------------------------------------------------------------------------
    def job_request(self) -> job.JobRequest:
        """The job the dock's current state describes; ValueError says what is missing."""
        raster = self.labels.raster_combo.currentLayer()
        if raster is None or raster.providerType() != "gdal":
            raise ValueError("Pick a training raster that is a file (GeoTIFF, VRT, ...).")
        labeled = self.labels.labelled_rasters()[0]  # the picked raster first
        if not labeled or labeled[0][0].id() != raster.id():
            raise ValueError("The training raster has no label layers: press \"New label layers\" and draw.")
        classes = self.labels.class_table.classes()
        if len(classes) < 2 or any(not c.name for c in classes):
            raise ValueError("Define at least two classes, each with a name.")
        self.options.check_tile_size()
        for other, _ in labeled[1:]:
            if other.providerType() != "gdal":
                raise ValueError(f"The labelled raster {other.name()} is not a file (GeoTIFF, VRT, ...): "
                                 "remove its label layers or load it from a file.")
        self.unlabeled.check_bands(raster)
        options = self.options
        return job.JobRequest(
            classes=classes, labeled=[job.LabeledRaster(r.source(), l) for r, l in labeled],
            unlabeled=self.unlabeled.paths(), method=options.method.currentData(),
            method_params=options.method_form.values(), steps=options.steps.value(),
            tile_size=options.tile_size.value(), batch_size=options.batch_size.value(),
            line_width_px=self.labels.line_width.value(), device=options.device.currentText(),
            polygons=options.polygons.isChecked(), init_from=(init := job.start_model(options.init_model.filePath())),
            encoder_weights=job.start_weights(options.encoder_weights.filePath(), init))

    def write_job(self, job_dir: Path = None, quick: bool = False, again: str = "") -> Path:
        """Write the job directory for the current state (`quick`: for the pixel classifier;
        `again`: continuing that model folder, job.train_again); returns JOB_DIR."""
        request = self.job_request()
        request = job.quick_map(request) if quick else job.train_again(request, again) if again else request
        job_dir = Path(job_dir) if job_dir else job.new_job_dir(settings.jobs_folder(), self.project,
                                                                "quick-" if quick else "")
        job.write_job(job_dir, request)
        job_registry.remember(job_dir, self.project)
        self.runs.current_job = job_dir
        self.runs.fill(job_registry.known_jobs(self.project))
        return job_dir

    def start_training(self, job_dir: Path = None, resume: Path = None, quick: bool = False, again: str = ""):
        """Write a new job (or resume one) and run `semiseg train` in a QgsTask; `quick`: a Quick
        map; `again`: continue that model folder (train_again)."""
        if self.controller.busy():
            self.refuse(self.train_notice, "A job is already running: cancel it or wait for it to end.")
            return None
        self.train_notice.say("")
        try:
            job_dir = self.write_job(job_dir, quick, again) if resume is None else Path(resume)
            return self.controller.train(self.engine.python(), job_dir, self.options.device.currentText(),
                                         resume=resume is not None)
        except (ValueError, OSError, engine.EngineError) as e:
            self.refuse(self.train_notice, str(e))
            return None

    def train_again(self, job_dir: Path = None):
        """Continue the newest model of the training raster with the current labels, then refresh
        its map: the visible area first (seconds), then the whole raster."""
        raster = self.labels.raster_combo.currentLayer()
        model = job.last_model_of(raster.source(), job_registry.known_jobs(self.project)) if raster is not None else ""
        if not model:
            self.refuse(self.train_notice, "No earlier training of this raster to continue: press Train first.")
            return None
        task = self.start_training(job_dir, again=model)
        if task is not None:
            self.refresh.after_training(task.job_dir, raster)
        return task

    def start_prediction(self, out_dir: Path = None):
        """Predict the picked raster with the picked model into a prediction run listed with the jobs."""
        if self.controller.busy():
            self.refuse(self.predict.notice, "A job is already running: cancel it or wait for it to end.")
            return None
        self.predict.notice.say("")
        try:
            model, raster, source, extra = self.predict.chosen(self.project)
            out_dir = Path(out_dir) if out_dir else job.new_job_dir(settings.jobs_folder(), self.project, "predict-")
            job_registry.remember(out_dir, self.project)  # listed once its events appear
            polygons = self.options.polygons.isChecked() and source == raster.source()  # none of a SEG-Y volume
            return self.controller.predict(self.engine.python(), model, raster.name(), source, out_dir,
                                           self.options.device.currentText(), extra, polygons, self.predict.devices(source, raster))
        except (ValueError, engine.EngineError) as e:
            self.refuse(self.predict.notice, str(e))
            return None

    def cancel(self, job_dir: Path = None) -> None:
        """Stop the run `job_dir` (default: the one the Jobs section shows)."""
        task = self.controller.task_of(job_dir or self.runs.current_job)
        if task is not None:
            if Path(task.job_dir) == self.runs.current_job:
                self.runs.cancelling(task.predict)
            task.stop()

    def _run_started(self, task) -> None:
        job_dir = Path(task.job_dir)
        task.stateChanged.connect(lambda state: self.runs.show_state(job_dir, state))
        task.ended.connect(lambda state: self._run_ended(state, job_dir, task.predict))
        for button in (self.train_button, self.quick_button, self.again_button, self.predict.predict_button):
            button.setEnabled(False)
        self.runs.run_started(job_dir, training=not task.predict)
        self.runs.fill(job_registry.known_jobs(self.project), show=False)

    def _run_ended(self, state, job_dir: Path, predict: bool) -> None:
        if self._disposed or state.status in ("pending", "running"):  # let go of, not ended (job_controller)
            return
        for button in (self.train_button, self.quick_button, self.again_button, self.predict.predict_button):
            button.setEnabled(not self.controller.busy())
        self.runs.run_ended(job_dir, state, job_registry.known_jobs(self.project))
        if state.status != "completed":
            self.refresh.stop(job_dir)
            return
        if self.refresh.trained(job_dir):  # trained again: it wrote no map, the refresh makes them
            return
        groups = self.add_results(job_dir)
        if not predict:
            self.predict.model_dir.setFilePath(str(JobDir(job_dir).model))
        self.refresh.mapped(job_dir, groups)

    def add_results(self, job_dir: Path) -> list:
        """Add the maps a job or prediction run reported (its `output` events), one group per raster."""
        state = read_state(job_dir)
        # A SEG-Y volume's maps are SEG-Y files QGIS cannot show: named, not loaded; its sections'
        # maps are rasters like any other (segy.volume_files).
        volumes = segy.volume_files(JobDir(Path(job_dir)).outputs, state.outputs)
        sources = list(dict.fromkeys(e["source"] for e in state.outputs if e.get("source") and e.get("kind") == "classes"))
        if not sources and not volumes:
            self.runs.show_error(f"{JobDir(Path(job_dir)).events}: the engine reported no maps of this run.")
            return []
        name = f"SemiSeg prediction {job_dir.name}" if JobDir(job_dir).is_prediction_run else f"SemiSeg {job_dir.name}"
        groups = []
        for source in sources:
            rasters = [l for l in self.project.mapLayers().values() if isinstance(l, QgsRasterLayer)]
            layer = next((l for l in rasters if Path(l.source()) == Path(source)), None) or \
                next((l for l in rasters if segy.same_line(source, l.source())), None)
            try:
                groups.append(results.add_prediction(results.outputs_of(job_dir, state.outputs, source), source,
                                                     name, self.project, layer))
            except OSError as e:
                self.runs.show_error(str(e))
        classes = next((n.layer() for g in groups for n in g.findLayers() if n.layer().customProperty(results.SOURCE)), None)
        if classes is not None:  # the first map's class areas, ready to export
            self.map.show_map(classes)
        if volumes:
            sections = [n.layer().name() for g in groups for n in g.findLayers() if n.layer().customProperty(results.SOURCE)]
            self.refuse(self.predict.notice, segy.volume_message(volumes, sections), error=False)
        return groups

    def next_suggestion(self) -> int:
        """Zoom the map to the next place the picked class map suggests labelling (its rank, 0: none)."""
        return self.map.next_suggestion(self.project, self.canvas) if self.canvas is not None else 0

    # ---- export (exports.Exports) ---------------------------------------------------------------
    def export_map(self, pdf: Path = None) -> list:
        return self.exports.export_map(pdf)

    def export_onnx(self, out: Path = None, network_alone: bool = False):
        return self.exports.export_onnx(out, network_alone)

    def dispose(self) -> None:
        """Disconnect from the project and from running tasks when the plugin unloads.

        An engine run goes on (it is its own process); the next dock follows a training run again.
        """
        if self._disposed:
            return
        self._disposed = True
        self.exports.disposed = True
        self.runs.job_states_timer.stop()
        self.engine.dispose()
        self.controller.detach()
        self.labels.dispose()
        self.map.clear_highlight()
        self.project.readProject.disconnect(self.load_project_state)
        self.project.cleared.disconnect(self.load_project_state)
        self.options.methods_task = None
