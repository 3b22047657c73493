"""Labels onto the raster's grid: vector scribbles/regions/points or a label raster -> uint8 ids.

Unlabelled pixels are 255 (IGNORE_INDEX) everywhere in the engine.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio.errors
import rasterio.features
import rasterio.transform
from rasterio.windows import Window

from semiseg.errors import UserError, first_line
from semiseg.io.rasters import RasterInfo, open_raster, refuse_if_too_large_to_hold

IGNORE_INDEX = 255
VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml", ".sqlite"}
# Burn order: later kinds are drawn over earlier ones, so a scribble inside a region wins.
_BURN_ORDER = ("Polygon", "LineString", "Point")


@dataclass
class LabelRaster:
    """Class ids on a raster's grid, plus anything the user should be told."""

    ids: np.ndarray  # (H, W) uint8, IGNORE_INDEX = not labelled
    warnings: list[str] = field(default_factory=list)


def load_labels(
    labels: Path,
    raster: RasterInfo,
    num_classes: int,
    class_field: str = "class_id",
    layers: list[str] | None = None,
    line_width_px: float = 3.0,
    point_radius_px: float = 2.0,
) -> LabelRaster:
    labels = Path(labels)
    if not labels.exists():
        raise UserError(f"{labels}: file not found")
    refuse_labels_too_large(raster)
    if labels.suffix.lower() in VECTOR_SUFFIXES:
        result = _rasterize_vector(labels, raster, class_field, layers, line_width_px, point_radius_px)
    else:
        result = _read_label_raster(labels, raster)
    _check_class_ids(labels, result.ids, num_classes)
    return result


# Labels live on their raster's grid, a byte per pixel, with as much again for the masks made
# from them while they are read and checked.
LABEL_BYTES_PER_PIXEL = 3


def refuse_labels_too_large(raster: RasterInfo) -> None:
    """One line naming a labelled raster whose labels would not fit in memory on its grid."""
    refuse_if_too_large_to_hold(raster.path, raster.width, raster.height, "its labels", LABEL_BYTES_PER_PIXEL,
                                "crop it to the labelled area (gdal_translate -projwin, or QGIS's Clip Raster by Extent) and label that")


def _read_label_raster(path: Path, raster: RasterInfo) -> LabelRaster:
    with open_raster(path) as ds:
        if (ds.width, ds.height) != (raster.width, raster.height):
            raise UserError(
                f"{path}: label raster is {ds.width}x{ds.height} px but {raster.path.name} is "
                f"{raster.width}x{raster.height} px; labels must be on the raster's grid"
            )
        placed = ds.crs is not None or not ds.transform.is_identity  # a plain mask (PNG) goes by size alone
        if placed and raster.georeferenced and (
            not ds.transform.almost_equals(raster.transform) or (ds.crs and raster.crs and ds.crs != raster.crs)
        ):
            raise UserError(f"{path}: label raster is the size of {raster.path.name} but not on its grid (its geotransform or CRS differ)")
        return LabelRaster(read_label_ids(ds, path))


def read_label_ids(ds, path: Path, window: Window | None = None) -> np.ndarray:
    """uint8 class ids of a label raster (or of a window of it), IGNORE_INDEX where nothing is
    labelled: nodata, masked, NaN or 255. The one reading of a label raster, for training and
    for `semiseg evaluate`."""
    try:
        values, labelled = ds.read(1, window=window), ds.read_masks(1, window=window) > 0
    except rasterio.errors.RasterioIOError as exc:
        raise UserError(f"{path}: cannot be read: the file is damaged or truncated ({first_line(exc.__cause__ or exc)})") from None
    ids = np.full(values.shape, IGNORE_INDEX, dtype=np.uint8)
    if ds.nodata is not None:
        labelled &= values != ds.nodata
    if np.issubdtype(values.dtype, np.floating):
        labelled &= np.isfinite(values)
    labelled &= values != IGNORE_INDEX
    bad = labelled & ((values < 0) | (values > 254) | (values != np.round(values)))
    if bad.any():
        raise UserError(f"{path}: label values must be whole class ids 0..254 (255 = not labelled)")
    ids[labelled] = values[labelled].astype(np.uint8)
    return ids


def _rasterize_vector(
    path: Path,
    raster: RasterInfo,
    class_field: str,
    layers: list[str] | None,
    line_width_px: float,
    point_radius_px: float,
) -> LabelRaster:
    import geopandas as gpd
    import pyogrio

    try:
        available = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise UserError(f"{path}: not a vector file GDAL can read ({exc})") from None
    wanted = layers if layers is not None else available
    missing = [name for name in wanted if name not in available]
    if missing:
        raise UserError(f"{path}: no layer named {', '.join(missing)} (layers: {', '.join(available)})")

    notes: list[str] = []
    frames = []
    for name in wanted:
        try:
            frame = gpd.read_file(path, layer=name, engine="pyogrio")
        except Exception as exc:  # a damaged layer, a bad encoding: GDAL's first line says which
            raise UserError(f"{path}: cannot read layer {name!r} ({first_line(exc)})") from None
        if class_field not in frame.columns:
            if layers is not None:
                raise UserError(f"{path}: layer {name!r} has no field {class_field!r}")
            continue
        frames.append(_to_raster_crs(frame, raster, path, name, notes))
    if not frames:
        raise UserError(f"{path}: no layer has the class field {class_field!r}")

    pixel = abs(raster.label_transform.determinant) ** 0.5  # side of a square pixel, rotated grids too
    shapes: dict[str, list] = {kind: [] for kind in _BURN_ORDER}
    for frame in frames:
        frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
        values = frame[class_field]
        if values.isna().any():
            notes.append(f"{path}: {int(values.isna().sum())} feature(s) without {class_field} were skipped")
            frame, values = frame[values.notna()], values[values.notna()]
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)  # "3" from a text field is fine
        wrong = np.isnan(numeric) | (numeric != np.round(numeric))
        if wrong.any():
            raise UserError(f"{path}: field {class_field!r} must hold whole class ids, not {values.to_numpy()[wrong][0]!r}")
        for geom, value in zip(frame.geometry, numeric.astype(int)):
            kind = geom.geom_type.removeprefix("Multi")
            if kind == "LineString":
                geom = geom.buffer(line_width_px * pixel / 2, cap_style="round")
            elif kind == "Point":
                geom = geom.buffer(point_radius_px * pixel)
            elif kind != "Polygon":
                notes.append(f"{path}: a {geom.geom_type} geometry was skipped")
                continue
            if not (0 <= value <= 254):
                raise UserError(f"{path}: class id {value} in field {class_field!r} is not in 0..254")
            shapes[kind].append((geom, int(value)))

    # Pixels whose centre is inside: a 3 px scribble burns 3 px, not 5. Every pixel touched only
    # where a line or disk is thinner than a pixel, which centres alone could leave with gaps.
    thin = {"Polygon": False, "LineString": line_width_px < 1, "Point": point_radius_px < 1}
    ids = np.full((raster.height, raster.width), IGNORE_INDEX, dtype=np.uint8)
    for kind in _BURN_ORDER:
        if shapes[kind]:
            rasterio.features.rasterize(shapes[kind], out=ids, transform=raster.label_transform, all_touched=thin[kind])
    drawn = [geom for kind in _BURN_ORDER for geom, _ in shapes[kind]]
    if not drawn:
        raise UserError(f"{path}: holds no labelled feature (0 features with a {class_field!r}); draw labels and save the layer")
    if not (ids != IGNORE_INDEX).any():
        raise UserError(f"{path}: none of its {len(drawn)} feature(s) falls on {raster.path.name} (the labels do not overlap the raster): " + _extents(drawn, raster) + _no_georeference(raster))
    return LabelRaster(ids, notes)


def _extents(geoms: list, raster: RasterInfo) -> str:
    """Where the labels are and where the raster is, in the raster's coordinates."""
    from shapely.ops import unary_union

    lx0, ly0, lx1, ly1 = unary_union(geoms).bounds
    rx0, ry0, rx1, ry1 = rasterio.transform.array_bounds(raster.height, raster.width, raster.label_transform)
    where = f"in {raster.crs.to_string()}" if raster.georeferenced and raster.crs else "in the raster's coordinates"
    return f"the labels span x {lx0:.6g}..{lx1:.6g}, y {ly0:.6g}..{ly1:.6g} and the raster x {rx0:.6g}..{rx1:.6g}, y {ry0:.6g}..{ry1:.6g} ({where})"


def _no_georeference(raster: RasterInfo) -> str:
    """Why labels drawn on a map miss a raster that has no place on it."""
    if raster.georeferenced:
        return ""
    what = f"; {raster.path.name} has no georeference, so its labels are read in pixel coordinates"
    if raster.path.suffix.lower() in (".tif", ".tiff") and raster.driver != "GTiff":
        what += f" (it is not a GeoTIFF but a {raster.driver} file named .tif)"
    return what


def _to_raster_crs(frame, raster: RasterInfo, path: Path, layer: str, notes: list[str]):
    if not raster.georeferenced:
        return frame  # drawn in the raster's own pixel coordinates, as QGIS shows it
    if frame.crs is None:
        notes.append(f"{path}: layer {layer!r} has no CRS; assuming the raster's CRS")
        return frame
    if raster.crs is not None and frame.crs != raster.crs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return frame.to_crs(raster.crs)
            except Exception as exc:  # pyproj finds no transformation between the two
                raise UserError(f"{path}: layer {layer!r} cannot be reprojected to {raster.path.name}'s CRS ({first_line(exc)})") from None
    return frame


def _check_class_ids(path: Path, ids: np.ndarray, num_classes: int) -> None:
    present = np.unique(ids)
    unknown = [int(v) for v in present if v != IGNORE_INDEX and v >= num_classes]
    if unknown:
        raise UserError(
            f"{path}: class id(s) {', '.join(map(str, unknown))} are not among the job's classes 0..{num_classes - 1}"
        )
