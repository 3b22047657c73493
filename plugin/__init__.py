"""SemiSeg QGIS plugin: label rasters, train segmentation models in a separate engine process.

One code base for QGIS 3.22+ (PyQt5) and QGIS 4 (PyQt6): Qt is imported only through
qgis.PyQt, every Qt enum is spelled scoped (`Qt.AlignmentFlag.AlignLeft`, which PyQt5 >= 5.11
also has) and dialogs run with exec(); tests/plugin/test_qt6_static.py and test_qt6_smoke.py
check that against PyQt6. QGIS's own enums keep their unscoped spelling
(`QgsMapLayerProxyModel.RasterLayer`, `QgsProcessing.TypeRaster`, `QgsWkbTypes.Polygon`): their
scoped forms (Qgis.LayerFilter, Qgis.ProcessingSourceType, Qgis.WkbType) came after 3.22, and
QGIS 4 keeps the unscoped names as aliases.
"""


def classFactory(iface):
    from .plugin import SemiSegPlugin
    return SemiSegPlugin(iface)
