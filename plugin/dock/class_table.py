"""The class table widget: one row per class (name, color); row order is the class id.

A colour the table chose (not the user) follows the class's name when it is renamed: "class 3"
renamed "vegetation" turns green, not the purple the palette gave it (classes.color_for).
"""
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QMessageBox, QPushButton,
                                 QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)
from qgis.gui import QgsColorButton

from ..common.classes import SegClass, color_for

AUTO_COLOR = Qt.ItemDataRole.UserRole  # on a name item: True while the table chose the row's colour


class ClassTable(QWidget):
    classesChanged = pyqtSignal()
    classRemoved = pyqtSignal(int)  # the removed id, emitted before classesChanged
    loadRequested = pyqtSignal()  # "Load classes…": the labels section asks for the file

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Class", "Color"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setMinimumHeight(110)
        self.table.setMaximumHeight(170)
        self.table.itemChanged.connect(self._item_changed)
        add, remove = QPushButton("Add class"), QPushButton("Remove class")
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Classes from a classes.json (id, name, color), a class map's .qml style, "
                                    "or a class raster styled with one")
        self.load_button.clicked.connect(self.loadRequested)
        add.clicked.connect(lambda: self.add_class())
        remove.clicked.connect(self._remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addWidget(self.load_button)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def classes(self) -> list:
        return [SegClass(self.table.item(r, 0).text().strip(), self.table.cellWidget(r, 1).color().name())
                for r in range(self.table.rowCount())]

    def set_classes(self, classes: list, auto_colors: bool = False) -> None:
        """Show `classes`; `auto_colors`: their colours are the table's own (defaults), renaming changes them."""
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for c in classes:
            self._append(c, auto_colors)
        self.table.blockSignals(False)
        self.classesChanged.emit()

    def add_class(self, name: str = "", color: str = "") -> None:
        current = self.classes()
        self.table.blockSignals(True)
        name = name or f"class {len(current) + 1}"
        self._append(SegClass(name, color or color_for(name, current)), auto=not color)
        self.table.blockSignals(False)
        self.classesChanged.emit()

    def rename(self, class_id: int, name: str) -> None:
        self.table.item(class_id, 0).setText(name)  # itemChanged -> classesChanged

    def recolor(self, class_id: int, color: str) -> None:
        self.table.cellWidget(class_id, 1).setColor(QColor(color))  # colorChanged -> classesChanged

    def remove_class(self, class_id: int) -> None:
        self.table.removeRow(class_id)
        self.classRemoved.emit(class_id)
        self.classesChanged.emit()

    def _remove_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        row = rows[0].row()
        answer = QMessageBox.question(self, "Remove class",
                                      f"Remove \"{self.table.item(row, 0).text()}\" and delete its labels?")
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_class(row)

    def _item_changed(self, item) -> None:
        if item.column() == 0 and item.data(AUTO_COLOR):  # renamed: a colour the table chose follows the name
            others = [c for r, c in enumerate(self.classes()) if r != item.row()]
            button = self.table.cellWidget(item.row(), 1)
            button.blockSignals(True)
            button.setColor(QColor(color_for(item.text().strip(), others)))
            button.blockSignals(False)
        self.classesChanged.emit()

    def _color_picked(self, button) -> None:
        row = next((r for r in range(self.table.rowCount()) if self.table.cellWidget(r, 1) is button), -1)
        if row >= 0:
            self.table.blockSignals(True)
            self.table.item(row, 0).setData(AUTO_COLOR, False)  # the user's colour stays when renamed
            self.table.blockSignals(False)
        self.classesChanged.emit()

    def _append(self, seg_class: SegClass, auto: bool = False) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        item = QTableWidgetItem(seg_class.name)
        item.setData(AUTO_COLOR, auto)
        self.table.setItem(row, 0, item)
        button = QgsColorButton()
        button.setColor(QColor(seg_class.color))
        button.setShowMenu(False)
        button.setAllowOpacity(False)
        button.colorChanged.connect(lambda _: self._color_picked(button))
        self.table.setCellWidget(row, 1, button)
