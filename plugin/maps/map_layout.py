"""A print-ready map of a prediction: a QGIS print layout built with the layout API, kept in the
project for the user to edit, and exported to PDF and PNG.

On an A4 landscape page: the title; the styled classes over their source raster; a legend of the
class names and colours; the class areas (the engine's <stem>_areas.json); a scale bar and a
north arrow when the map has a CRS, a trace/sample grid when it has none (a seismic section);
the CRS and the date; optionally the confidence map as an inset. Runs on the GUI thread only.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

from qgis.PyQt.QtCore import QDate, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QFont
from qgis.core import (QgsLayoutExporter, QgsLayoutFrame, QgsLayoutItemLabel, QgsLayoutItemLegend,
                       QgsLayoutItemMap, QgsLayoutItemMapGrid, QgsLayoutItemPicture, QgsLayoutItemScaleBar,
                       QgsLayoutItemTextTable, QgsLayoutPoint, QgsLayoutSize,
                       QgsLayoutTableColumn, QgsLegendRenderer, QgsLegendStyle, QgsMapLayerLegendUtils, QgsPrintLayout, QgsRectangle,
                       QgsUnitTypes)

MM = QgsUnitTypes.LayoutMillimeters
PAGE_W, PAGE_H, MARGIN = 297.0, 210.0, 10.0  # A4 landscape
SIDE_W = 78.0  # the right-hand column: legend, areas, inset
MAP_BOX = QRectF(MARGIN, 22.0, PAGE_W - 2 * MARGIN - SIDE_W - 6, 166.0)
INSET_H = 48.0
TABLE_ROW_MM = 5.0  # a row of 8-pt text with 1 mm cell margins
NORTH_ARROW = "/usr/share/qgis/svg/arrows/NorthArrow_02.svg"
DPI = 200


@dataclass
class MapContent:
    """What goes on the map: the class layer, the raster it was predicted from (drawn under it, may
    be None), its confidence layer (the inset, may be None) and the areas table rows."""
    title: str
    classes: object  # QgsRasterLayer
    source: object = None
    confidence: object = None
    areas: list = field(default_factory=list)  # rows of read_areas


def read_areas(path) -> list:
    """The whole-map rows (zone "all") of a <stem>_areas.json `semiseg stats` or `semiseg predict`
    wrote; ValueError (one line) for a file that is not one."""
    try:
        rows = json.loads(Path(path).read_text())["rows"]
        return [row for row in rows if row["zone"] == "all"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a SemiSeg class-area table ({e})") from None


def area_table(rows: list) -> tuple:
    """(headers, rows of text) of the class areas, in hectares, or in pixels for a map without a CRS."""
    with_area = bool(rows) and rows[0]["area_ha"] is not None
    headers = ["Class", "Area (ha)" if with_area else "Pixels", "Share", "Uncertain"]
    cells = []
    for row in rows:
        size = f"{row['area_ha']:,.2f}" if with_area else f"{row['pixels']:,}"
        low = row.get("low_confidence_share")
        cells.append([row["class"], size, f"{100 * row['share']:.1f} %", "" if low is None else f"{100 * low:.0f} %"])
    return headers, cells


def build_layout(project, content: MapContent) -> QgsPrintLayout:
    """The layout of `content`, added to the project's layouts (replacing one of the same title)."""
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()  # one A4 landscape page
    layout.setName(content.title)
    georeferenced = content.classes.crs().isValid()
    _label(layout, content.title, QRectF(MARGIN, 6, PAGE_W - 2 * MARGIN, 12), 18, bold=True)
    main = _map(layout, [content.classes] + ([content.source] if content.source else []), content.classes, MAP_BOX)
    if georeferenced:
        _north_arrow(layout, main)
        _scale_bar(layout, main)
    else:
        _trace_sample_grid(main)
    _label(layout, _footer(content.classes), QRectF(MARGIN, PAGE_H - 12, PAGE_W - 2 * MARGIN, 6), 8,
           align=Qt.AlignmentFlag.AlignRight)
    side_x = PAGE_W - MARGIN - SIDE_W
    y = _legend(layout, main, content.classes, "Classes", side_x, MAP_BOX.top())
    if content.areas:
        y = _areas_table(layout, content.areas, side_x, y + 4)
    if content.confidence is not None:
        y = _legend(layout, None, content.confidence, "Confidence", side_x, y + 4)
        _map(layout, [content.confidence], content.confidence, QRectF(side_x, y + 2, SIDE_W, INSET_H))
    manager = project.layoutManager()
    old = manager.layoutByName(content.title)
    if old is not None:
        manager.removeLayout(old)
    manager.addLayout(layout)
    return layout


def export_layout(layout: QgsPrintLayout, pdf: Path = None, png: Path = None) -> list:
    """Write the layout to `pdf` and/or `png` (DPI dots per inch); OSError names a file not written."""
    exporter = QgsLayoutExporter(layout)
    written = []
    for path, export, settings in ((pdf, exporter.exportToPdf, QgsLayoutExporter.PdfExportSettings()),
                                   (png, exporter.exportToImage, QgsLayoutExporter.ImageExportSettings())):
        if path is None:
            continue
        settings.dpi = DPI
        result = export(str(path), settings)
        if result != QgsLayoutExporter.Success:
            raise OSError(f"{path}: QGIS could not write the map there ({_EXPORT_ERRORS.get(result, 'export failed')})")
        written.append(Path(path))
    return written


_EXPORT_ERRORS = {QgsLayoutExporter.FileError: "the file cannot be written",
                  QgsLayoutExporter.MemoryError: "out of memory for an image this size",
                  QgsLayoutExporter.PrintError: "the PDF could not be drawn"}


def _footer(classes) -> str:
    date = QDate.currentDate().toString(Qt.DateFormat.ISODate)
    crs = classes.crs()
    where = (f"CRS {crs.authid()} ({crs.description()})" if crs.isValid()
             else "No CRS: columns are traces, rows are samples")
    return f"{where} · {date} · SemiSeg"


def _label(layout, text: str, rect: QRectF, size: float, bold: bool = False, align=Qt.AlignmentFlag.AlignLeft):
    label = QgsLayoutItemLabel(layout)
    label.setText(text)
    font = QFont()
    font.setBold(bold)
    font.setPointSizeF(size)
    label.setFont(font)  # QGIS 3.22's label takes a QFont (a text format from 3.24 on)
    label.setHAlign(align)
    _place(layout, label, rect)
    return label


def _place(layout, item, rect: QRectF) -> None:
    layout.addLayoutItem(item)
    item.attemptMove(QgsLayoutPoint(rect.left(), rect.top(), MM))
    item.attemptResize(QgsLayoutSize(rect.width(), rect.height(), MM))


def _map(layout, layers: list, extent_of, box: QRectF) -> QgsLayoutItemMap:
    """A map frame inside `box`, shaped like the extent of `extent_of` (no empty margins), showing `layers`."""
    extent = QgsRectangle(extent_of.extent())
    ratio = extent.width() / extent.height() if extent.height() else 1.0
    width, height = (box.width(), box.width() / ratio) if ratio > box.width() / box.height() else (box.height() * ratio, box.height())
    item = QgsLayoutItemMap(layout)
    item.setLayers(layers)
    item.setKeepLayerSet(True)
    if extent_of.crs().isValid():
        item.setCrs(extent_of.crs())
    item.setFrameEnabled(True)
    _place(layout, item, QRectF(box.left(), box.top(), width, height))
    item.setExtent(extent)
    return item


def _north_arrow(layout, linked: QgsLayoutItemMap) -> None:
    arrow = QgsLayoutItemPicture(layout)
    arrow.setPicturePath(NORTH_ARROW)
    arrow.setLinkedMap(linked)  # turns with the map
    arrow.setNorthMode(QgsLayoutItemPicture.GridNorth)
    arrow.setBackgroundColor(QColor(255, 255, 255, 200))
    arrow.setBackgroundEnabled(True)
    frame = linked.rect()
    _place(layout, arrow, QRectF(linked.pos().x() + frame.width() - 14, linked.pos().y() + 2, 12, 12))


def _scale_bar(layout, linked: QgsLayoutItemMap) -> None:
    bar = QgsLayoutItemScaleBar(layout)
    bar.setStyle("Single Box")
    bar.setLinkedMap(linked)
    bar.applyDefaultSize()  # segments of a round length, in the CRS's units
    layout.addLayoutItem(bar)
    bar.attemptMove(QgsLayoutPoint(linked.pos().x(), linked.pos().y() + linked.rect().height() + 2, MM))


def _trace_sample_grid(linked: QgsLayoutItemMap) -> None:
    """Tick labels along the frame in traces (x = column) and samples (y = -row, as QGIS places a
    raster without a CRS), where a map with a CRS has a scale bar and a north arrow."""
    extent = linked.extent()
    grid = QgsLayoutItemMapGrid("traces and samples", linked)
    grid.setStyle(QgsLayoutItemMapGrid.FrameAnnotationsOnly)
    grid.setIntervalX(_round_step(extent.width() / 5))
    grid.setIntervalY(_round_step(extent.height() / 5))
    grid.setAnnotationEnabled(True)
    grid.setAnnotationFormat(QgsLayoutItemMapGrid.CustomFormat)
    grid.setAnnotationExpression("if(@grid_axis = 'y', -@grid_number, @grid_number)")
    grid.setFrameStyle(QgsLayoutItemMapGrid.ExteriorTicks)
    linked.grids().addGrid(grid)


def _round_step(span: float) -> float:
    """1, 2 or 5 times a power of ten, close to `span`."""
    if span <= 0:
        return 1.0
    power = 10 ** int(f"{span:e}".split("e")[1])
    return next((m * power for m in (1, 2, 5, 10) if m * power >= span), 10 * power)


def _legend(layout, linked, layer, title: str, x: float, y: float) -> float:
    """A legend of `layer` alone (its class names and colours, or its colour ramp; neither the
    layer's name nor its band's) at (x, y); returns its bottom."""
    legend = QgsLayoutItemLegend(layout)
    legend.setTitle(title)
    legend.setAutoUpdateModel(False)
    root = legend.model().rootGroup()
    root.clear()
    node = root.addLayer(layer)
    QgsLegendRenderer.setNodeLegendStyle(node, QgsLegendStyle.Hidden)
    nodes = legend.model().layerLegendNodes(node)
    if len(nodes) > 1 and not nodes[0].data(Qt.ItemDataRole.DecorationRole):  # the band's name ("Band 1 (Palette)"), no symbol
        QgsMapLayerLegendUtils.setLegendNodeOrder(node, list(range(1, len(nodes))))
        legend.model().refreshLayerLegend(node)
    for style, size, bold in ((QgsLegendStyle.Title, 11, True), (QgsLegendStyle.SymbolLabel, 9, False)):
        font = QFont()
        font.setPointSizeF(size)
        font.setBold(bold)
        legend.rstyle(style).setFont(font)
    if linked is not None:
        legend.setLinkedMap(linked)
    legend.setResizeToContents(True)
    layout.addLayoutItem(legend)
    legend.attemptMove(QgsLayoutPoint(x, y, MM))
    # the item takes its size when first drawn: measure the legend's content now, to place what follows
    height = QgsLegendRenderer(legend.model(), legend.legendSettings()).minimumSize().height()
    legend.attemptResize(QgsLayoutSize(SIDE_W, height, MM))
    return y + height


def _areas_table(layout, rows: list, x: float, y: float) -> float:
    """The class areas as a table at (x, y); returns its bottom."""
    headers, cells = area_table(rows)
    table = QgsLayoutItemTextTable(layout)
    columns = []
    for header in headers:
        column = QgsLayoutTableColumn(header)
        column.setHAlignment(Qt.AlignmentFlag.AlignLeft if not columns else Qt.AlignmentFlag.AlignRight)
        columns.append(column)
    table.setColumns(columns)
    table.setContents(cells)
    header_format, content_format = table.headerTextFormat(), table.contentTextFormat()
    header_format.setSize(8)
    content_format.setSize(8)
    table.setHeaderTextFormat(header_format)
    table.setContentTextFormat(content_format)
    table.setGridStrokeWidth(0.2)
    table.setCellMargin(1.0)
    frame = QgsLayoutFrame(layout, table)
    frame.attemptMove(QgsLayoutPoint(x, y, MM))
    table.addFrame(frame)
    height = TABLE_ROW_MM * (len(cells) + 1)  # QgsLayoutTable.totalSize() counts the header alone before it is drawn
    frame.attemptResize(QgsLayoutSize(SIDE_W, height, MM))
    return y + height
