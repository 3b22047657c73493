"""The dock's "Predict with a model" section: a model folder, a raster, and how much of it
(the visible area only; or, for a section cut from a SEG-Y volume, the whole volume, along
inlines, crosslines or both)."""
from pathlib import Path

from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QFormLayout, QPushButton, QSpinBox
from qgis.core import QgsMapLayerProxyModel
from qgis.gui import QgsCollapsibleGroupBox, QgsFileWidget, QgsMapLayerComboBox

from ..common.paths import icon_path
from ..maps import map_area
from ..segy import segy
from .notice import Notice


class PredictSection(QgsCollapsibleGroupBox):
    def __init__(self, canvas=None, parent=None):
        super().__init__("Predict with a model", parent)
        self.canvas = canvas  # the map view, for "predict the visible area only"
        self.model_dir = QgsFileWidget()
        self.model_dir.setStorageMode(QgsFileWidget.GetDirectory)
        self.model_dir.setToolTip("A model folder (JOB_DIR/model) from an earlier training.")
        self.predict_raster = QgsMapLayerComboBox()
        self.predict_raster.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.predict_button = QPushButton(QIcon(icon_path("predict.svg")), "Predict")
        self.visible_only = QCheckBox("Only the visible map area")
        self.visible_only.setToolTip("Predict only the raster's pixels inside the map view: a quick look at "
                                     "a large raster before predicting all of it.")
        self.visible_only.setEnabled(canvas is not None)
        self.whole_volume = QCheckBox("The whole SEG-Y volume of this section")
        self.whole_volume.setToolTip("Predict every line of the volume the section was cut from into "
                                     "<volume>_classes.sgy and _confidence.sgy (the volume's own headers), "
                                     "and this section as rasters to look at here.")
        self.axis = QComboBox()
        for text, axis in (("inlines", "inline"), ("crosslines", "crossline"),
                           ("both, probabilities averaged", "both")):
            self.axis.addItem(text, axis)
        self.axis.setToolTip("Predict the volume line by line along inlines, crosslines, or both with their "
                             "probabilities averaged (twice the time; steadier across lines).")
        self.whole_volume.toggled.connect(lambda on: self.axis.setEnabled(on))
        self.axis.setEnabled(False)
        self.predict_raster.layerChanged.connect(self._offer_volume)
        form = QFormLayout(self)
        form.addRow("Model folder", self.model_dir)
        form.addRow("Raster", self.predict_raster)
        form.addRow(self.visible_only)
        form.addRow(self.whole_volume)
        form.addRow("Along", self.axis)
        self.gpus = QSpinBox()
        self.gpus.setToolTip("GPUs that share the raster's blocks (one process each). A stopped prediction "
                             "predicted again into the same folder resumes at its first unfinished block.")
        form.addRow("GPUs", self.gpus)
        self.offer_gpus(0)
        form.addRow(self.predict_button)
        self.notice = Notice()  # what Predict answers: a refusal, or what a run wrote (a SEG-Y volume's files)
        form.addRow(self.notice)
        self._offer_volume(self.predict_raster.currentLayer())
        self.setCollapsed(True)

    def offer_gpus(self, count: int) -> None:
        """Show the GPUs to predict with where the engine reports more than one (all of them by default)."""
        self.gpus_offered = count > 1
        self.gpus.setRange(1, max(1, count))
        self.gpus.setValue(max(1, count))
        self.gpus.setVisible(self.gpus_offered)
        form = self.layout()
        if form is not None and form.labelForField(self.gpus) is not None:
            form.labelForField(self.gpus).setVisible(self.gpus_offered)

    def devices(self, source: str, raster) -> int:
        """How many processes predict `source`: one for a SEG-Y volume (the engine predicts it line by line in one)."""
        return self.gpus.value() if self.gpus_offered and source == raster.source() else 1

    def _offer_volume(self, raster) -> None:
        tie = segy.section_tie(raster.source()) if raster is not None else None
        self.whole_volume.setVisible(tie is not None)
        self.axis.setVisible(tie is not None)
        form = self.layout()
        if form is not None and form.labelForField(self.axis) is not None:
            form.labelForField(self.axis).setVisible(tie is not None)
        if tie is None:
            self.whole_volume.setChecked(False)

    def chosen(self, project) -> tuple:
        """(model folder, raster layer, file to predict, its extra `semiseg predict` arguments);
        ValueError says what is missing."""
        model, raster = self.model_dir.filePath(), self.predict_raster.currentLayer()
        if not model or raster is None:
            raise ValueError("Pick a model folder and a raster to predict.")
        tie = segy.section_tie(raster.source())
        if tie is not None and self.whole_volume.isChecked():
            if not Path(tie["volume"]).is_file():
                raise ValueError(f"The volume of {raster.name()} is gone: {tie['volume']}")
            return model, raster, tie["volume"], [f"--{tie['kind']}", str(tie["line"]), "--axis", self.axis.currentData()]
        if not (self.visible_only.isChecked() and self.canvas is not None):
            return model, raster, raster.source(), []
        part = map_area.part_of_layer(self.canvas.extent(), self.canvas.mapSettings().destinationCrs(),
                                      raster, project)
        if part is None:
            raise ValueError(f"The map view shows no part of {raster.name()}.")
        return model, raster, raster.source(), map_area.bounds_args(part)
