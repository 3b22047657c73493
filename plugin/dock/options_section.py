"""The dock's Advanced section: the method (from the engine's catalogue), its parameters, run options."""
from qgis.PyQt import sip
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QVBoxLayout
from qgis.gui import QgsCollapsibleGroupBox, QgsFileWidget

from ..common.background import BackgroundCall
from ..jobs import job
from .method_form import FALLBACK_METHOD, MethodCatalog, MethodForm, ask_engine, cached, known


class OptionsSection(QgsCollapsibleGroupBox):
    def __init__(self, python: str, parent=None):
        super().__init__("Advanced", parent)
        self.catalog = None  # the engine's methods (MethodCatalog), once known
        self.methods_task = None  # asking the engine for its methods
        self.class_names = []
        self.method = QComboBox()
        self.method.currentIndexChanged.connect(lambda _: self._method_chosen())
        self.method_summary, self.method_note = QLabel(), QLabel()
        self.method_summary.setWordWrap(True)
        self.method_summary.setStyleSheet("color: palette(dark);")
        self.method_note.setWordWrap(True)
        self.method_note.hide()
        self.method_form = MethodForm()
        self.steps, self.tile_size, self.batch_size = QSpinBox(), QSpinBox(), QSpinBox()
        for spin, low, high, value, step in ((self.steps, 1, 1_000_000, job.DEFAULT_STEPS, 100),
                                             (self.tile_size, 32, 4096, job.DEFAULT_TILE, 32),
                                             (self.batch_size, 1, 512, job.DEFAULT_BATCH, 1)):
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
        self.encoder_weights = QgsFileWidget()
        self.encoder_weights.setFilter("Encoder weights (*.safetensors *.pt *.pth)")
        self.encoder_weights.setToolTip("Optional: pretrained encoder weights (e.g. ImageNet's, from `semiseg weights "
                                        "resnet18 --out FILE.safetensors` on a machine with internet, or a model's "
                                        "model.safetensors). A new network starts from them instead of from random "
                                        "filters; the job itself never downloads anything.")
        self.polygons = QCheckBox("Class polygons with every prediction")
        self.polygons.setToolTip("After training and with \"Predict with a model\": also write the predicted "
                                 "classes as polygons (GeoPackage, styled like the class raster); regions "
                                 "under 16 pixels merge into a neighbour first.")
        params = QGroupBox("Method parameters")
        params.setToolTip("Only values changed from their defaults go into the job (docs/methods.md).")
        params_layout = QVBoxLayout(params)
        params_layout.setContentsMargins(6, 4, 6, 4)
        params_layout.addWidget(self.method_form)
        form = QFormLayout(self)
        form.addRow("Method", self.method)
        form.addRow(self.method_summary)
        form.addRow(self.method_note)
        form.addRow(params)
        for label, widget in (("Steps", self.steps), ("Tile size", self.tile_size), ("Batch size", self.batch_size),
                              ("Device", self.device), ("Start from model", self.init_model),
                              ("Pretrained encoder", self.encoder_weights)):
            form.addRow(label, widget)
        form.addRow(self.polygons)
        self.setCollapsed(True)
        self.show_methods(known(python))  # the last answer until the engine answers again

    def check_tile_size(self) -> None:
        """ValueError for a tile size the engine would refuse only after starting."""
        job.check_tile_size(self.tile_size.value())

    def load_methods(self, python: str) -> None:
        """Ask the engine `python` for its methods (once per engine Python, in the background)."""
        if cached(python) is not None:
            self.show_methods(cached(python))
            return
        if not python:
            self.show_methods(MethodCatalog.fallback(
                f"No engine configured: only \"{FALLBACK_METHOD}\" is offered until one is set."))
            return
        self.method_note.setText("Asking the engine for its methods…")
        self.method_note.show()
        query = self.methods_task = BackgroundCall(lambda: ask_engine(python))
        query.answered.connect(self._methods_answered)  # a slot of this widget: queued onto the GUI thread
        query.start()

    def _methods_answered(self, query: BackgroundCall) -> None:
        if sip.isdeleted(self) or query is not self.methods_task:
            return  # a newer question is on its way, or the dock is gone
        self.methods_task = None
        self.show_methods(query.result)

    def show_methods(self, catalog: MethodCatalog) -> None:
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

    def set_class_names(self, names: list) -> None:
        self.class_names = list(names)
        self.method_form.set_class_names(self.class_names)

    def _method_chosen(self) -> None:
        if sip.isdeleted(self) or sip.isdeleted(self.method):
            return  # a combo being destroyed signals its index going to -1
        info = self.catalog.methods.get(self.method.currentData(), {}) if self.catalog else {}
        self.method.setToolTip(info.get("summary", ""))
        self.method_summary.setText(info.get("summary", ""))
        self.method_form.set_class_names(self.class_names)
        self.method_form.set_schema(info.get("parameters") or {})
