"""The class table widget: one row per class (name, color); row order is the class id."""
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QMessageBox, QPushButton,
                                 QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)
from qgis.gui import QgsColorButton

from ..common.classes import SegClass, next_color


class ClassTable(QWidget):
    classesChanged = pyqtSignal()
    classRemoved = pyqtSignal(int)  # the removed id, emitted before classesChanged

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
        self.table.itemChanged.connect(lambda _: self.classesChanged.emit())
        add, remove = QPushButton("Add class"), QPushButton("Remove class")
        add.clicked.connect(lambda: self.add_class())
        remove.clicked.connect(self._remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def classes(self) -> list:
        return [SegClass(self.table.item(r, 0).text().strip(), self.table.cellWidget(r, 1).color().name())
                for r in range(self.table.rowCount())]

    def set_classes(self, classes: list) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for c in classes:
            self._append(c)
        self.table.blockSignals(False)
        self.classesChanged.emit()

    def add_class(self, name: str = "", color: str = "") -> None:
        current = self.classes()
        self.table.blockSignals(True)
        self._append(SegClass(name or f"class {len(current) + 1}", color or next_color(current)))
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

    def _append(self, seg_class: SegClass) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(seg_class.name))
        button = QgsColorButton()
        button.setColor(QColor(seg_class.color))
        button.setShowMenu(False)
        button.setAllowOpacity(False)
        button.colorChanged.connect(lambda _: self.classesChanged.emit())
        self.table.setCellWidget(row, 1, button)
