"""The "Open SEG-Y" dialog: a volume's geometry, and which lines and slices to load from it."""
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit
from qgis.core import QgsCoordinateReferenceSystem
from qgis.gui import QgsProjectionSelectionWidget

from .segy import parse_numbers, summary


class SegySelection:
    """What to cut from a volume: line numbers, times, every K-th of an axis, the slices' CRS."""

    def __init__(self, inlines=(), crosslines=(), times=(), every=None, crs: str = ""):
        self.inlines, self.crosslines, self.times = list(inlines), list(crosslines), list(times)
        self.every, self.crs = dict(every or {}), crs

    def empty(self) -> bool:
        return not (self.inlines or self.crosslines or self.times or self.every)


class OpenSegyDialog(QDialog):
    def __init__(self, volume: str, info: dict, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Open SEG-Y: {volume}")
        self.info = info
        il, xl = info["inlines"], info["crosslines"]
        self.geometry = QLabel(summary(info))
        self.geometry.setWordWrap(True)
        middle = il["first"] + il["step"] * ((il["last"] - il["first"]) // il["step"] // 2)
        self.inlines = QLineEdit(str(middle))
        self.inlines.setToolTip(f"Inline numbers ({il['first']}–{il['last']}), or \"every 10\".")
        self.crosslines = QLineEdit()
        self.crosslines.setToolTip(f"Crossline numbers ({xl['first']}–{xl['last']}), or \"every 10\".")
        self.times = QLineEdit()
        self.times.setToolTip(f"Times or depths of map-view slices ({info['first_sample']:g}–{info['last_sample']:g}), "
                              "or \"every 50\" samples.")
        self.crs = QgsProjectionSelectionWidget()
        self.crs.setOptionVisible(QgsProjectionSelectionWidget.CrsNotSet, True)
        self.crs.setNotSetText("unknown (slices without CRS)")
        self.crs.setCrs(QgsCoordinateReferenceSystem())
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(self.geometry)
        form.addRow("Inlines", self.inlines)
        if info["kind"] != "2D line":
            form.addRow("Crosslines", self.crosslines)
            form.addRow("Time slices", self.times)
            form.addRow("CRS of CDP X/Y", self.crs)
        form.addRow(self.error)
        form.addRow(buttons)

    def selection(self) -> SegySelection:
        """The lines asked for; ValueError naming the field that does not parse."""
        chosen = SegySelection(crs=self.crs.crs().authid() if self.crs.crs().isValid() else "")
        for field, what, numbers, axis in ((self.inlines, "Inlines", chosen.inlines, "inline"),
                                           (self.crosslines, "Crosslines", chosen.crosslines, "crossline"),
                                           (self.times, "Time slices", chosen.times, "time")):
            values, every = parse_numbers(field.text(), what)
            numbers += values
            if every:
                chosen.every[axis] = every
        if chosen.empty() and self.info["kind"] != "2D line":
            raise ValueError("Give at least one inline, crossline or time slice.")
        return chosen

    def accept(self) -> None:
        try:
            self.selection()
        except ValueError as e:
            self.error.setText(str(e))
            self.error.show()
            return
        super().accept()
