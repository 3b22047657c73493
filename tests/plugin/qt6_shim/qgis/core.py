"""`qgis.core` stand-in: placeholders, and QgsSettings as a QSettings in a throw-away file."""
import tempfile

from PyQt6.QtCore import QSettings

from ._placeholder import placeholder_module

__getattr__ = placeholder_module(__name__)
_SETTINGS = tempfile.mkdtemp(prefix="semiseg-qt6-settings-") + "/settings.ini"


class QgsSettings(QSettings):
    def __init__(self, *args):
        super().__init__(_SETTINGS, QSettings.Format.IniFormat)
