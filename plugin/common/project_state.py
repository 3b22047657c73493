"""What a project remembers of the dock: its training raster and its unlabeled rasters.

They belong to the project, so they live in the project file (QgsProject entries), not in the
dock widget, which outlives projects: a seismic mosaic listed in one project must not turn up
in the next, where training would fail on its band count.
"""
from qgis.core import QgsProject, QgsRasterLayer

_SCOPE = "semiseg"


def save_training_raster(project: QgsProject, layer) -> None:
    project.writeEntry(_SCOPE, "training_raster", layer.id() if layer is not None else "")


def training_raster(project: QgsProject):
    """The raster layer picked for training when the project was saved, if it is still there."""
    layer_id, _ = project.readEntry(_SCOPE, "training_raster", "")
    layer = project.mapLayer(layer_id) if layer_id else None
    return layer if isinstance(layer, QgsRasterLayer) else None


def save_unlabeled(project: QgsProject, rasters: list) -> None:
    """`rasters`: (path, name) pairs."""
    project.writeEntry(_SCOPE, "unlabeled", [f"{name}\t{path}" for path, name in rasters])


def unlabeled(project: QgsProject) -> list:
    entries, _ = project.readListEntry(_SCOPE, "unlabeled", [])
    return [tuple(reversed(entry.split("\t", 1))) if "\t" in entry else (entry, "") for entry in entries]


def band_count(path: str) -> int:
    """Bands of a raster file (0 if GDAL cannot open it: the engine then says why)."""
    layer = QgsRasterLayer(path, "", "gdal")
    return layer.bandCount() if layer.isValid() else 0
