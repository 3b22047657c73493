"""`qgis.PyQt` as QGIS 4 has it: PyQt6 under the names plugins import."""
from PyQt6 import sip  # noqa: F401
