"""`qgis.gui` stand-in: each widget the plugin uses is the PyQt6 widget it derives from in QGIS,
accepting (and ignoring) the QGIS-only methods; other names are placeholders."""
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QComboBox, QDockWidget, QDoubleSpinBox, QGroupBox, QSpinBox, QToolButton, QWidget

from ._placeholder import Anything, placeholder_module

__getattr__ = placeholder_module(__name__)


class _Meta(type(QWidget)):
    def __getattr__(cls, name):  # enums such as QgsFileWidget.GetDirectory
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()


def _widget(name: str, base: type) -> type:
    def __getattr__(self, attr):  # only reached for what the Qt base class lacks
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Anything()
    return _Meta(name, (base,), {"__getattr__": __getattr__})


QgsDockWidget = _widget("QgsDockWidget", QDockWidget)
QgsCollapsibleGroupBox = _widget("QgsCollapsibleGroupBox", QGroupBox)
QgsSpinBox = _widget("QgsSpinBox", QSpinBox)
QgsDoubleSpinBox = _widget("QgsDoubleSpinBox", QDoubleSpinBox)
QgsMapLayerComboBox = _widget("QgsMapLayerComboBox", QComboBox)
QgsFileWidget = _widget("QgsFileWidget", QWidget)
QgsProjectionSelectionWidget = _widget("QgsProjectionSelectionWidget", QWidget)


class QgsColorButton(_widget("_ColorButton", QToolButton)):
    colorChanged = pyqtSignal(QColor)

    def setColor(self, color):
        self._color = QColor(color)
        self.colorChanged.emit(self._color)

    def color(self):
        return QColor(getattr(self, "_color", QColor()))

