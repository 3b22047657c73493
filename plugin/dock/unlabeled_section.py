"""The dock's "Unlabeled rasters" section: rasters a semi-supervised method also learns from.

The list belongs to the project (project_state): another project's rasters never carry over.
"""
from pathlib import Path

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QFileDialog, QHBoxLayout, QListWidget, QListWidgetItem, QMenu, QPushButton, \
    QToolButton, QVBoxLayout
from qgis.core import QgsRasterLayer
from qgis.gui import QgsCollapsibleGroupBox

from ..common import project_state
from ..jobs import job


class UnlabeledSection(QgsCollapsibleGroupBox):
    def __init__(self, project, parent=None):
        super().__init__("Unlabeled rasters", parent)
        self.project = project
        self._loading = False
        self.list = QListWidget()
        self.list.setMaximumHeight(80)
        add = QToolButton()
        add.setText("Add layer")
        add.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        add.setMenu(QMenu(add))
        add.menu().aboutToShow.connect(lambda: self._fill_layer_menu(add.menu()))
        files, remove = QPushButton("Add files…"), QPushButton("Remove")
        files.clicked.connect(self._add_files)
        remove.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        for w in (add, files, remove):
            buttons.addWidget(w)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.setCollapsed(True)

    def load(self) -> None:
        """The (new) project's list; the last project's rasters are not this one's."""
        self._loading = True
        self.list.clear()
        for path, name in project_state.unlabeled(self.project):
            self.add(path, name)
        self._loading = False

    def _fill_layer_menu(self, menu: QMenu) -> None:
        menu.clear()
        for layer in self.project.mapLayers().values():
            if isinstance(layer, QgsRasterLayer) and layer.providerType() == "gdal":
                menu.addAction(layer.name(), lambda l=layer: self.add(l.source(), l.name()))

    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Unlabeled rasters", "",
                                                "Rasters (*.tif *.tiff *.vrt *.img *.jp2);;All files (*)")
        for path in paths:
            self.add(path)

    def add(self, path: str, name: str = "") -> None:
        item = QListWidgetItem(name or Path(path).name)
        item.setData(Qt.ItemDataRole.UserRole, path)
        item.setToolTip(path)
        self.list.addItem(item)
        self._save()

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._save()

    def paths(self) -> list:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def check_bands(self, raster) -> None:
        """ValueError for a raster whose band count differs from the training raster's (the
        engine would refuse it only after reading the labels)."""
        job.check_unlabeled_bands(raster.name(), raster.bandCount(),
                                  [(path, project_state.band_count(path)) for path in self.paths()])

    def _save(self) -> None:
        if not self._loading:
            items = [self.list.item(i) for i in range(self.list.count())]
            project_state.save_unlabeled(self.project, [(i.data(Qt.ItemDataRole.UserRole), i.text()) for i in items])
