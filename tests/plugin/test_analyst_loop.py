"""The analyst's loop in the real desktop (issue 41): what a second Quick map, the wheel, the
suggestion, a raster without a CRS and a change of project do, in PyQGIS, without the engine."""
from pathlib import Path

import json

import pytest
from osgeo import gdal
from qgis.core import QgsRasterLayer
from qgis.PyQt.QtCore import QPoint, QPointF, Qt
from qgis.PyQt.QtGui import QWheelEvent
from qgis.PyQt.QtWidgets import QApplication

from semiseg_qgis.dock.dock import SemiSegDock
from semiseg_qgis.dock.method_form import MethodCatalog
from semiseg_qgis.maps import results

from scenes import make_raster

METHODS_ANSWER = json.loads((Path(__file__).parent / "engine_methods.json").read_text())


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


def fake_suggestions(path: Path) -> Path:
    """A suggestions GeoPackage of a raster without a CRS, one region, as the engine writes it (no SRS)."""
    from osgeo import ogr
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer(path.stem, None, ogr.wkbPolygon)
    for name, kind in (("rank", ogr.OFTInteger), ("class", ogr.OFTString), ("runner_up", ogr.OFTString),
                       ("score", ogr.OFTReal)):
        layer.CreateField(ogr.FieldDefn(name, kind))
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POLYGON((10 -10,30 -10,30 -30,10 -30,10 -10))"))
    for name, value in (("rank", 1), ("class", "salt"), ("runner_up", "sediment"), ("score", 0.3)):
        feature.SetField(name, value)
    layer.CreateFeature(feature)
    ds = None
    return path


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


def wheel(widget, steps: int = -1) -> None:
    """One notch of the mouse wheel over `widget` (down: negative)."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(widget.rect().center())), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_over_an_unfocused_setting_leaves_it_as_it_is(dock):
    dock.options.show_methods(MethodCatalog.from_answer(METHODS_ANSWER))
    dock.options.method.setCurrentIndex(dock.options.method.findData("mean_teacher"))
    photometric = dock.options.method_form.field("photometric").widget
    assert photometric.currentText().startswith("strong")
    for widget in (photometric, dock.options.method, dock.options.steps, dock.labels.line_width):
        value = widget.currentIndex() if hasattr(widget, "currentIndex") else widget.value()
        assert not widget.hasFocus()
        for notch in (-1, 1, -1):
            wheel(widget, notch)
        assert (widget.currentIndex() if hasattr(widget, "currentIndex") else widget.value()) == value
        assert widget.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel gives no focus either


def suggested_map(project, tmp_path, georeferenced=True):
    """A class map whose suggestions layer holds one square region of rank 1."""
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer
    classes = QgsRasterLayer(str(make_raster(tmp_path / "classes.tif", georeferenced=georeferenced)), "classes")
    crs = "crs=EPSG:32633&" if georeferenced else ""
    suggestions = QgsVectorLayer(f"Polygon?{crs}field=rank:integer&field=class:string&field=runner_up:string"
                                 "&field=score:double", "suggestions", "memory")
    feature = QgsFeature(suggestions.fields())
    x, y = (500040.0, 5999900.0) if georeferenced else (40.0, -60.0)
    feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(x, y, x + 20, y + 20)))
    feature.setAttributes([1, "water", "land", 0.4])
    suggestions.dataProvider().addFeatures([feature])
    project.addMapLayers([classes, suggestions])
    classes.setCustomProperty(results.SUGGESTIONS, suggestions.id())
    return classes, suggestions


@pytest.fixture()
def canvas_dock(project):
    from qgis.gui import QgsMapCanvas
    canvas = QgsMapCanvas()
    canvas.resize(400, 400)
    dock = SemiSegDock(canvas=canvas)
    yield dock, canvas
    dock.dispose()
    from qgis.PyQt import sip
    sip.delete(dock)  # now, not at a later event loop the tests never run: nothing of it outlives its canvas
    if not sip.isdeleted(canvas):
        sip.delete(canvas)


def test_the_next_suggestion_is_outlined_not_painted_over(canvas_dock, project, tmp_path):
    dock, canvas = canvas_dock
    classes, suggestions = suggested_map(project, tmp_path)
    canvas.setDestinationCrs(classes.crs())
    dock.map.classes.setLayer(classes)
    assert dock.next_suggestion() == 1
    band = dock.map.highlight
    assert band is not None and band.fillColor().alpha() == 0  # the pixels to label stay visible
    assert band.strokeColor().alpha() == 255 and band.width() >= 2
    assert band.asGeometry().boundingBox() == next(suggestions.getFeatures()).geometry().boundingBox()
    assert suggestions.selectedFeatureIds() == []  # no opaque selection over them
    dock.map.classes.setLayer(None)  # another map: the outline goes
    assert dock.map.highlight is None and band not in canvas.scene().items()
    dock.map.classes.setLayer(classes)
    dock.next_suggestion()
    from qgis.PyQt import sip
    sip.delete(canvas)  # QGIS closing: the canvas goes before the plugin unloads
    dock.map.clear_highlight()


def test_maps_of_a_raster_without_crs_are_never_transformed(canvas_dock, project, tmp_path, monkeypatch):
    """A seismic section has no CRS; the project and map are in EPSG:4326 (a new project's): a
    transform between them is what QGIS reports as "No transform available between Undefined
    SRS and EPSG:4326"."""
    from qgis.core import QgsCoordinateReferenceSystem
    from semiseg_qgis.dock import map_section
    dock, canvas = canvas_dock
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    project.setCrs(wgs84)
    canvas.setDestinationCrs(wgs84)
    section = QgsRasterLayer(str(make_raster(tmp_path / "section.tif", georeferenced=False)), "section")
    project.addMapLayer(section)
    files = fake_outputs(tmp_path / "job")
    for path in files.values():  # written from a section: no georeference at all
        ds = gdal.Open(str(path), gdal.GA_Update)
        ds.SetGeoTransform((0, 1, 0, 0, 0, -1))
        ds = None
    files["suggestions"] = fake_suggestions(tmp_path / "job" / "scene_suggestions.gpkg")
    group = results.add_prediction(files, section.source(), "SemiSeg job", project, section)
    assert [node.layer().crs().isValid() for node in group.findLayers()] == [False, False, False]
    made = []
    real = map_section.QgsCoordinateTransform
    monkeypatch.setattr(map_section, "QgsCoordinateTransform", lambda *a: made.append(a) or real(*a))
    dock.map.show_map(group.findLayers()[1].layer())
    assert dock.next_suggestion() == 1
    assert made == []
    assert dock.map.highlight.asGeometry().boundingBox().toString(0) == "10,-30 : 30,-10"  # drawn where QGIS draws the section


def test_another_project_shows_only_its_own_jobs_and_none_of_the_last_ones_fields(dock, project, tmp_path):
    from semiseg_qgis.jobs import job_registry
    dubai, seismic = tmp_path / "dubai_job", tmp_path / "seismic_job"
    for folder in (dubai, seismic):
        folder.mkdir()
        (folder / "job.json").write_text("{}")
    job_registry.remember(dubai, project)
    dock.load_project_state()
    dock.runs.show_job(dubai)
    dock.predict.model_dir.setFilePath(str(dubai / "model"))
    dock.map.say(f"Wrote {dubai / 'model.onnx'}: it runs in Deepness.")
    assert dock.runs.jobs.count() == 1
    assert project.write(str(tmp_path / "dubai.qgz"))

    project.clear()  # File > New
    listed = [dock.runs.jobs.itemData(i) for i in range(dock.runs.jobs.count())]
    assert listed == [] and dock.runs.current_job is None and dock.runs.status_label.text() == "No job yet."
    assert dock.predict.model_dir.filePath() == ""
    assert dock.map.message.isHidden() and dock.map.message.text() == ""

    job_registry.remember(seismic, project)
    assert project.write(str(tmp_path / "seismic.qgz"))
    assert project.read(str(tmp_path / "dubai.qgz"))  # open the other project
    assert [dock.runs.jobs.itemData(i) for i in range(dock.runs.jobs.count())] == [str(dubai)]
    assert project.read(str(tmp_path / "seismic.qgz"))
    assert [dock.runs.jobs.itemData(i) for i in range(dock.runs.jobs.count())] == [str(seismic)]
    assert dock.predict.model_dir.filePath() == ""


def test_the_uncertain_column_says_its_threshold_follows_the_class_count(dock):
    """The engine's areas count a pixel uncertain below halfway from chance to certainty (with two
    classes 0.75, not 0.5, which two classes' top probability never undercuts)."""
    tip = dock.map.areas.toolTip()
    assert "1/K" in tip and "75 % with two classes" in tip and "50 %" not in tip
