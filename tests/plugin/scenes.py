"""Small generated scenes for the plugin tests (GDAL from QGIS's own Python)."""
from pathlib import Path

from osgeo import gdal, osr

ORIGIN_X, ORIGIN_Y, PIXEL = 500000.0, 6000000.0, 2.0


def make_raster(path: Path, size: int = 96, georeferenced: bool = True) -> Path:
    """A 3-band uint8 scene: a blue left half ("water") and a textured sandy right half ("land")."""
    driver = gdal.GetDriverByName("GTiff")
    ds = driver.Create(str(path), size, size, 3, gdal.GDT_Byte)
    if georeferenced:
        ds.SetGeoTransform((ORIGIN_X, PIXEL, 0, ORIGIN_Y, 0, -PIXEL))
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32633)
        ds.SetProjection(srs.ExportToWkt())
    half = size // 2
    for band, (water, land) in enumerate(((30, 210), (90, 190), (180, 140)), start=1):
        rows = []
        for y in range(size):
            rows.append(bytes((water + (x * 7 + y * 3) % 11) if x < half else
                              (land + (x * 13 + y * 5) % 23) for x in range(size)))
        ds.GetRasterBand(band).WriteRaster(0, 0, size, size, b"".join(rows))
    ds = None
    return Path(path)


def to_map(col: float, row: float, georeferenced: bool = True) -> tuple:
    """Map coordinates of a pixel position (x = column, y = -row without georeference)."""
    if georeferenced:
        return ORIGIN_X + col * PIXEL, ORIGIN_Y - row * PIXEL
    return col, -row
