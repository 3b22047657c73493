"""SemiSeg QGIS plugin: label rasters, train segmentation models in a separate engine process."""


def classFactory(iface):
    from .plugin import SemiSegPlugin
    return SemiSegPlugin(iface)
