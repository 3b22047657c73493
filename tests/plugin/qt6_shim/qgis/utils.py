"""`qgis.utils` stand-in: iface and the rest are placeholders."""
from ._placeholder import Anything, placeholder_module

__getattr__ = placeholder_module(__name__)
iface = Anything()
