"""The part of a raster to predict when the user asks for "the visible map area" or an extent.

The engine takes `--bounds` in the raster's own coordinates (its CRS, or the pixel coordinates
QGIS shows a raster without CRS in), so the area is transformed to the layer here.
"""
from qgis.core import QgsCoordinateTransform, QgsCsException, QgsRectangle


def part_of_layer(area: QgsRectangle, area_crs, layer, project):
    """`area` (in `area_crs`) clipped to `layer`, in the layer's coordinates; None if they miss."""
    layer_crs = layer.crs()
    if area_crs.isValid() and layer_crs.isValid() and area_crs != layer_crs:
        try:
            area = QgsCoordinateTransform(area_crs, layer_crs, project).transformBoundingBox(area)
        except QgsCsException:
            return None
    part = area.intersect(layer.extent())
    return None if part.isEmpty() else part


def bounds_args(part: QgsRectangle) -> list:
    """`semiseg predict` arguments for `part`; the engine snaps them to whole pixels.

    Fixed-point, never an exponent: argparse takes "-3.2e-05" for an option, "-0.000032" not.
    """
    values = (part.xMinimum(), part.yMinimum(), part.xMaximum(), part.yMaximum())
    return ["--bounds", *(f"{float(v):.9f}" for v in values)]
