"""The print-ready map (map_layout) in real PyQGIS: what the analyst hands over, checked on the
exported PDF and PNG themselves."""
import json

from osgeo import gdal, osr
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor, QImage
from qgis.core import (QgsLayoutItemLabel, QgsLayoutItemLegend, QgsLayoutItemMap, QgsLayoutItemPicture, QgsLayoutItemScaleBar,
                       QgsLayoutItemTextTable, QgsPalettedRasterRenderer, QgsRasterLayer)

from semiseg_qgis.maps import map_layout

from scenes import ORIGIN_X, ORIGIN_Y, PIXEL, make_raster

CLASSES = (("water", "#1f78b4"), ("land", "#d9c89e"), ("road", "#e31a1c"))
SIZE = 96


def class_map(path, georeferenced=True) -> QgsRasterLayer:
    """A 96 x 96 class raster, one class per third of the columns, styled as the engine styles it."""
    ds = gdal.GetDriverByName("GTiff").Create(str(path), SIZE, SIZE, 1, gdal.GDT_Byte)
    if georeferenced:
        ds.SetGeoTransform((ORIGIN_X, PIXEL, 0, ORIGIN_Y, 0, -PIXEL))
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32633)
        ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).WriteRaster(0, 0, SIZE, SIZE, bytes(x * 3 // SIZE for _ in range(SIZE) for x in range(SIZE)))
    ds = None
    layer = QgsRasterLayer(str(path), "scene classes")
    renderer = QgsPalettedRasterRenderer(layer.dataProvider(), 1, [
        QgsPalettedRasterRenderer.Class(i, QColor(color), name) for i, (name, color) in enumerate(CLASSES)])
    layer.setRenderer(renderer)
    return layer


def areas(georeferenced=True) -> list:
    """The rows `semiseg stats` writes for class_map: a third of the pixels each."""
    pixels = SIZE * SIZE // 3
    area = pixels * PIXEL * PIXEL if georeferenced else None
    return [{"zone": "all", "class_id": i, "class": name, "pixels": pixels, "area_m2": area,
             "area_ha": area / 10_000 if area else None, "share": 1 / 3, "confidence_weighted_area_m2": None,
             "low_confidence_share": 0.25} for i, (name, _) in enumerate(CLASSES)]


def items(layout, kind) -> list:
    return [item for item in layout.items() if isinstance(item, kind)]


def tables(layout) -> list:
    return [frame for frame in layout.multiFrames() if isinstance(frame, QgsLayoutItemTextTable)]


def pixels_of(image: QImage, item) -> set:
    """The colours of the PNG inside a layout item's rectangle (layout mm to pixels at DPI)."""
    scale = map_layout.DPI / 25.4
    rect = item.sceneBoundingRect()
    return {image.pixelColor(x, y).name()
            for x in range(int(rect.left() * scale) + 1, int(rect.right() * scale) - 1, 2)
            for y in range(int(rect.top() * scale) + 1, int(rect.bottom() * scale) - 1, 2)}


def test_the_exported_map_shows_every_class_with_its_area_over_the_source(project, tmp_path):
    source = QgsRasterLayer(str(make_raster(tmp_path / "scene.tif")), "scene")
    classes = class_map(tmp_path / "scene_classes.tif")
    project.addMapLayers([source, classes])
    layout = map_layout.build_layout(project, map_layout.MapContent("Scene: land cover", classes, source, None, areas()))
    pdf, png = map_layout.export_layout(layout, tmp_path / "map.pdf", tmp_path / "map.png")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    image = QImage(str(png))
    assert (image.width(), image.height()) == (int(297 / 25.4 * map_layout.DPI), int(210 / 25.4 * map_layout.DPI))  # A4 landscape

    (main,) = items(layout, QgsLayoutItemMap)
    assert main.layers() == [classes, source] and main.crs() == classes.crs()
    assert main.extent() == classes.extent()  # the frame is shaped like the raster: nothing cut, no margin
    drawn = pixels_of(image, main)
    assert {color for _, color in CLASSES} <= drawn  # not blank: every class is on the map

    (legend,) = items(layout, QgsLayoutItemLegend)
    node = legend.model().rootGroup().findLayer(classes)
    labels = [n.data(Qt.ItemDataRole.DisplayRole) for n in legend.model().layerLegendNodes(node)]
    assert labels == [name for name, _ in CLASSES]  # the class names, not the band's
    assert {color for _, color in CLASSES} <= pixels_of(image, legend)  # and each swatch is on the page

    (table,) = tables(layout)
    assert [row[:3] for row in table.contents()] == [[name, "1.23", "33.3 %"] for name, _ in CLASSES]  # 3072 px x 4 m²
    assert len(items(layout, QgsLayoutItemScaleBar)) == 1 and len(items(layout, QgsLayoutItemPicture)) == 1

    assert [l.name() for l in project.layoutManager().layouts()] == ["Scene: land cover"]
    map_layout.build_layout(project, map_layout.MapContent("Scene: land cover", classes, source, None, areas()))
    assert len(project.layoutManager().layouts()) == 1  # exporting again replaces the layout of that title


def test_a_map_without_crs_has_trace_and_sample_axes_and_no_north_arrow(project, tmp_path):
    classes = class_map(tmp_path / "section_classes.tif", georeferenced=False)
    project.addMapLayer(classes)
    layout = map_layout.build_layout(project, map_layout.MapContent("Inline 120", classes, None, None, areas(False)))
    (_, png) = map_layout.export_layout(layout, tmp_path / "section.pdf", tmp_path / "section.png")
    assert not items(layout, QgsLayoutItemScaleBar) and not items(layout, QgsLayoutItemPicture)
    (main,) = items(layout, QgsLayoutItemMap)
    grid = main.grids().grid(0)
    assert grid is not None and grid.annotationEnabled()
    (table,) = tables(layout)
    assert table.columns()[1].heading() == "Pixels" and table.contents()[0][1] == "3,072"
    footer = [label.text() for label in items(layout, QgsLayoutItemLabel) if "CRS" in label.text()]
    assert footer and "traces" in footer[0] and "samples" in footer[0]
    assert {color for _, color in CLASSES} <= pixels_of(QImage(str(png)), main)


def test_read_areas_takes_the_whole_map_rows_and_names_a_file_that_is_not_a_table(tmp_path):
    table = tmp_path / "scene_areas.json"
    rows = areas() + [dict(areas()[0], zone="north")]
    table.write_text(json.dumps({"fields": list(rows[0]), "rows": rows}))
    assert map_layout.read_areas(table) == areas()
    (tmp_path / "other.json").write_text("[1, 2]")
    try:
        map_layout.read_areas(tmp_path / "other.json")
    except ValueError as e:
        assert str(e).startswith(f"{tmp_path / 'other.json'}: not a SemiSeg class-area table")
    else:
        raise AssertionError("a list is not a class-area table")
