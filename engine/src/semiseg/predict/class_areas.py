"""`semiseg stats`: the area of every class of a class raster, overall or per zone polygon.

What an analyst delivers beside the map: pixels, area (m² and ha) and share of each class, and
how sure the map is of it: the confidence-weighted area (sum of pixel area x the map's top-class
probability) and the share of the class's pixels below a confidence threshold (by default
halfway from chance to certainty, `uncertain_below`: a fixed 0.5 is never undercut by the top
probability of two classes, so a two-class map always read 0 % uncertain). Areas come from
the raster's CRS: in a projected CRS a pixel is |det(transform)| in its linear unit squared; in
a geographic CRS each row's pixels are measured on the CRS's ellipsoid (they shrink towards the
poles); without a CRS (a seismic section) only pixel counts are given. The raster is read in
strips of rows, so memory follows the width, not the size.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from semiseg.errors import UserError, first_line
from semiseg.io.atomic import write_text_atomic
from semiseg.io.rasters import open_raster

STRIP_ROWS = 512
UNCERTAIN_FRACTION = 0.5  # of the way from chance (1/K) to certainty (1): below it a pixel is uncertain
CLASS_NODATA = 255
ALL_ZONES = "all"
FIELDS = (
    "zone", "class_id", "class", "pixels", "area_m2", "area_ha", "share",
    "confidence_weighted_area_m2", "low_confidence_share",
)


@dataclass
class _Tally:
    pixels: np.ndarray  # (zones, classes) int64
    area: np.ndarray  # (zones, classes) float64, m²
    weighted_area: np.ndarray  # (zones, classes) float64, m² x confidence
    low: np.ndarray  # (zones, classes) int64, pixels below the threshold

    @classmethod
    def empty(cls, zones: int, classes: int) -> "_Tally":
        z = lambda dtype: np.zeros((zones, classes), dtype)  # noqa: E731
        return cls(z(np.int64), z(np.float64), z(np.float64), z(np.int64))


def class_areas(
    classes: Path,
    confidence: Path | None = None,
    zones: Path | None = None,
    zone_field: str | None = None,
    low_confidence: float | None = None,
) -> list[dict]:
    """One row per (zone, class): see FIELDS. Zone "all" is the whole raster; with `zones`, one
    zone per value of `zone_field` (features sharing a value are one zone) follows it.

    `low_confidence`: the confidence below which a pixel counts in `low_confidence_share`;
    None: `uncertain_below` the map's number of classes."""
    classes = Path(classes)
    with open_raster(classes) as ds:
        names = class_names_of(ds)
        if low_confidence is None:
            low_confidence = uncertain_below(len(names))
        width, height, transform, crs = ds.width, ds.height, ds.transform, ds.crs
        row_area = _row_areas(transform, crs, height, classes)
        zone_names, burn = _zone_burner(zones, zone_field, crs, transform, width) if zones else ([], None)
        conf_ds = open_raster(confidence) if confidence else None
        try:
            if conf_ds is not None and (conf_ds.width, conf_ds.height) != (width, height):
                raise UserError(f"{confidence}: {conf_ds.width}x{conf_ds.height} px but {classes.name} is {width}x{height} px")
            tally = _Tally.empty(1 + len(zone_names), len(names))
            for top in range(0, height, STRIP_ROWS):
                window = Window(0, top, width, min(STRIP_ROWS, height - top))
                ids = ds.read(1, window=window)
                conf = conf_ds.read(1, window=window).astype(np.float64) if conf_ds is not None else None
                area = np.broadcast_to(row_area[top : top + window.height, None], ids.shape) if row_area is not None else None
                _add(tally, 0, ids, conf, area, low_confidence, len(names))
                if burn is not None:
                    zone_ids = burn(window)
                    for z in range(len(zone_names)):
                        inside = zone_ids == z + 1
                        if inside.any():
                            _add(tally, z + 1, np.where(inside, ids, CLASS_NODATA), conf, area, low_confidence, len(names))
        finally:
            if conf_ds is not None:
                conf_ds.close()
    return _rows(tally, [ALL_ZONES] + zone_names, names, row_area is not None, conf_ds is not None)


def uncertain_below(classes: int, fraction: float = UNCERTAIN_FRACTION) -> float:
    """The top-class probability below which a pixel of a `classes`-class map is uncertain:
    `fraction` of the way from chance, 1/K, to certainty, 1 (with 0.5: 0.75 for two classes,
    0.667 for three, 0.55 for ten). It means the same for any number of classes; the top
    probability of K classes is never below 1/K."""
    chance = 1.0 / max(classes, 1)
    return chance + fraction * (1.0 - chance)


def _add(tally: _Tally, zone: int, ids: np.ndarray, conf: np.ndarray | None, area: np.ndarray | None, threshold: float, n: int) -> None:
    keep = ids < n
    k = ids[keep].astype(np.int64)
    tally.pixels[zone] += np.bincount(k, minlength=n)[:n]
    if area is not None:
        a = area[keep]
        tally.area[zone] += np.bincount(k, weights=a, minlength=n)[:n]
        if conf is not None:
            tally.weighted_area[zone] += np.bincount(k, weights=a * conf[keep], minlength=n)[:n]
    if conf is not None:
        tally.low[zone] += np.bincount(k, weights=(conf[keep] < threshold), minlength=n)[:n].astype(np.int64)


def _rows(tally: _Tally, zone_names: list[str], names: list[str], with_area: bool, with_confidence: bool) -> list[dict]:
    rows = []
    for z, zone in enumerate(zone_names):
        total = int(tally.pixels[z].sum())
        for c, name in enumerate(names):
            pixels = int(tally.pixels[z, c])
            area = float(tally.area[z, c]) if with_area else None
            rows.append({
                "zone": zone,
                "class_id": c,
                "class": name,
                "pixels": pixels,
                "area_m2": round(area, 3) if area is not None else None,
                "area_ha": round(area / 10_000, 6) if area is not None else None,
                "share": round(pixels / total, 6) if total else 0.0,
                "confidence_weighted_area_m2": round(float(tally.weighted_area[z, c]), 3) if with_area and with_confidence else None,
                "low_confidence_share": round(int(tally.low[z, c]) / pixels, 6) if with_confidence and pixels else None,
            })
    return rows


def class_names_in(ds) -> list[str]:
    """The class names a SemiSeg class raster carries (tags class_0, class_1, ... of band 1); [] if none."""
    tags = ds.tags(1)
    names = []
    while f"class_{len(names)}" in tags:
        names.append(tags[f"class_{len(names)}"])
    return names


def class_names_of(ds) -> list[str]:
    """class_names_in, or a one-line error for a raster that is not a SemiSeg class map."""
    names = class_names_in(ds)
    if not names:
        raise UserError(f"{ds.name}: not a SemiSeg class raster (no class_0, class_1, ... names in its tags)")
    return names


def _row_areas(transform, crs, height: int, path: Path) -> np.ndarray | None:
    """Area in m² of a pixel of each row, or None without a CRS."""
    if crs is None:
        return None
    if crs.is_projected:
        unit, factor = crs.linear_units_factor
        return np.full(height, abs(transform.determinant) * factor * factor)
    if crs.is_geographic and transform.b == 0 and transform.d == 0:
        from pyproj import CRS

        geod = CRS.from_wkt(crs.to_wkt()).get_geod()
        x0, dx = transform.c, transform.a
        out = np.empty(height)
        for row in range(height):
            y_top, y_bottom = transform.f + row * transform.e, transform.f + (row + 1) * transform.e
            area, _ = geod.polygon_area_perimeter([x0, x0 + dx, x0 + dx, x0], [y_top, y_top, y_bottom, y_bottom])
            out[row] = abs(area)
        return out
    raise UserError(f"{path}: pixel areas need a projected CRS or a north-up geographic one; warp the map first")


def _zone_burner(zones: Path, zone_field: str | None, crs, transform, width: int):
    """(zone names, window -> uint32 zone ids of its pixels, 0 outside every zone)."""
    import geopandas as gpd
    from rasterio.features import rasterize

    try:
        frame = gpd.read_file(zones, engine="pyogrio")
    except Exception as exc:
        raise UserError(f"{zones}: not a vector file GDAL can read ({first_line(exc)})") from None
    if zone_field is None:
        raise UserError(f"{zones}: --zone-field names the field that names each zone (fields: {', '.join(c for c in frame.columns if c != 'geometry')})")
    if zone_field not in frame.columns:
        raise UserError(f"{zones}: no field {zone_field!r} (fields: {', '.join(c for c in frame.columns if c != 'geometry')})")
    if crs is None:
        raise UserError(f"{zones}: the class raster has no CRS to place zone polygons on")
    if frame.crs is None:
        raise UserError(f"{zones}: has no CRS; zones must say where they are")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty].to_crs(crs)
    names = sorted({str(v) for v in frame[zone_field]})
    index = {name: i + 1 for i, name in enumerate(names)}
    shapes = [(geom, index[str(value)]) for geom, value in zip(frame.geometry, frame[zone_field])]

    def burn(window: Window) -> np.ndarray:
        from rasterio.windows import transform as window_transform

        if not shapes:
            return np.zeros((int(window.height), width), np.uint32)
        return rasterize(shapes, out_shape=(int(window.height), width), transform=window_transform(window, transform), fill=0, dtype="uint32")

    return names, burn


def confidence_beside(classes: Path) -> Path | None:
    """The confidence raster a prediction wrote beside `classes` (<stem>_confidence.tif), if any."""
    classes = Path(classes)
    if not classes.stem.endswith("_classes"):
        return None
    candidate = classes.with_name(classes.stem[: -len("_classes")] + "_confidence.tif")
    return candidate if candidate.is_file() else None


def write_class_areas(rows: list[dict], out: Path) -> tuple[Path, Path]:
    """OUT (CSV) and the same rows as JSON beside it (OUT with .json); each written whole or not at all."""
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise UserError(f"{out}: expected a .csv path (the JSON goes beside it)")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    json_path = out.with_suffix(".json")
    write_text_atomic(out, text.getvalue())
    write_text_atomic(json_path, json.dumps({"fields": list(FIELDS), "rows": rows}, indent=2))
    return out, json_path
