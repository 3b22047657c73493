"""The analyst's loop in the real desktop (issue 41): what a second Quick map, the wheel, the
suggestion, a raster without a CRS and a change of project do, in PyQGIS, without the engine."""
from pathlib import Path

import pytest
from osgeo import gdal
from qgis.core import QgsRasterLayer

from semiseg_qgis.maps import results

from scenes import make_raster


def fake_outputs(folder: Path, size: int = 96) -> dict:
    """A class raster and a confidence raster as the engine writes them (one band each)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind, value in (("classes", 1), ("confidence", 200)):
        path = folder / f"scene_{kind}.tif"
        ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, 1, gdal.GDT_Byte)
        ds.SetGeoTransform((500000.0, 2.0, 0, 6000000.0, 0, -2.0))
        ds.GetRasterBand(1).Fill(value)
        ds = None
        files[kind] = path
    return files


@pytest.mark.parametrize("georeferenced", [True, False])
def test_a_second_map_of_a_raster_goes_on_top_and_hides_the_first(project, tmp_path, georeferenced):
    raster = QgsRasterLayer(str(make_raster(tmp_path / "scene.tif", georeferenced=georeferenced)), "scene")
    project.addMapLayer(raster)
    first = results.add_prediction(fake_outputs(tmp_path / "job1"), raster.source(), "SemiSeg job1", project, raster)
    second = results.add_prediction(fake_outputs(tmp_path / "job2"), raster.source(), "SemiSeg job2", project, raster)
    order = [node.name() for node in project.layerTreeRoot().children()]
    assert order.index("SemiSeg job2") < order.index("SemiSeg job1")  # the newest on top
    if georeferenced:
        assert order.index("SemiSeg job1") < order.index("scene")  # both above their raster
    assert second.isVisible() and second.isExpanded()
    assert not first.itemVisibilityChecked() and not first.isExpanded()
    assert first.findLayers()[0].isVisible() is False
