"""The dock without the engine: building, class table <-> label layers, active class, job.json,
the method form built from a recorded `semiseg methods --json` answer."""
import json
import os
from pathlib import Path

import pytest
from qgis.core import (QgsEditFormConfig, QgsGeometry, QgsPointXY, QgsRasterLayer, QgsRectangle,
                       QgsVectorLayerUtils)
from qgis.gui import QgsMapCanvas

from qgis.PyQt.QtCore import Qt

from semiseg_qgis.common import classes as class_list
from semiseg_qgis.dock.dock import SemiSegDock
from semiseg_qgis.common.label_layers import CLASS_FIELD
from semiseg_qgis.dock.method_form import MethodCatalog

from scenes import make_raster, to_map


METHODS_ANSWER = json.loads((Path(__file__).parent / "engine_methods.json").read_text())


@pytest.fixture()
def raster(project, tmp_path):
    layer = QgsRasterLayer(str(make_raster(tmp_path / "scene.tif")), "scene")
    assert layer.isValid()
    project.addMapLayer(layer)
    return layer


def categories(layer):
    """(class id, name, color of the top symbol layer) per category of the renderer."""
    cats = layer.renderer().categories()  # the symbols live as long as this list
    return [(c.value(), c.label(), c.symbol().symbolLayer(c.symbol().symbolLayerCount() - 1).color().name())
            for c in cats]


def draw_line(layer, points, georeferenced=True):
    """What QGIS's add-feature tool does with a digitized line: default values, then add."""
    geometry = QgsGeometry.fromPolylineXY([QgsPointXY(*to_map(c, r, georeferenced)) for c, r in points])
    feature = QgsVectorLayerUtils.createFeature(layer, geometry, {}, layer.createExpressionContext())
    assert layer.addFeature(feature)
    return feature


def test_dock_builds_and_offers_the_default_method_without_an_engine(dock):
    assert [dock.options.method.itemText(i) for i in range(dock.options.method.count())] == ["mean_teacher (default)"]
    assert dock.options.method.currentData() == "mean_teacher"
    assert not dock.options.method_note.isHidden() and "No engine" in dock.options.method_note.text()
    assert [c.name for c in dock.labels.class_table.classes()] == ["class 1", "class 2"]
    assert dock.labels.active_class.count() == 2
    assert not dock.runs.cancel_button.isEnabled()


def test_a_long_engine_status_is_cut_on_the_title_and_whole_below_it(dock):
    """A group box title does not wrap: a long one widened the dock's content past its edge."""
    from semiseg_qgis.dock.engine_section import TITLE_CHARS
    line = "Engine not usable: the engine Python does not start (exit code 1, see the log)."
    dock.engine.show_status(line, "")
    title = dock.engine.title()
    assert title.startswith("Engine not usable: ") and title.endswith("…") and len(title) <= TITLE_CHARS
    assert dock.engine.engine_label.text() == line and dock.engine.engine_label.wordWrap()
    dock.engine.show_status("Engine 0.7.0 ready · CPU, 2 threads (no GPU)", "")
    assert dock.engine.title() == "Engine 0.7.0 ready · CPU, 2 threads (no GPU)"  # a verdict fits whole
    dock.engine.show_status("No engine yet: \"Set up engine\", or pick one.", "")
    assert dock.engine.title().startswith("Engine — No engine yet")


def test_label_layers_follow_the_class_table(dock, raster, tmp_path, project):
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([class_list.SegClass("water", "#1f78b4"), class_list.SegClass("land", "#d9c89e")])
    layers = dock.new_label_layers(str(tmp_path / "labels.gpkg"))
    assert sorted(l.name() for l in layers) == ["scene points", "scene regions", "scene scribbles"]
    for layer in layers:
        assert layer.isValid() and layer.crs() == raster.crs()
        assert categories(layer) == [(0, "water", "#1f78b4"), (1, "land", "#d9c89e")]

    dock.labels.class_table.add_class("road", "#e31a1c")
    dock.labels.class_table.rename(0, "lake")
    dock.labels.class_table.recolor(1, "#00ff00")
    for layer in layers:
        assert categories(layer) == [(0, "lake", "#1f78b4"), (1, "land", "#00ff00"), (2, "road", "#e31a1c")]
    assert [c.name for c in class_list.load_from_project(project)] == ["lake", "land", "road"]
    assert dock.labels.active_class.count() == 3

    scribbles = next(l for l in layers if l.name() == "scene scribbles")
    dock.labels.line_width.setValue(5)
    scribble_categories = scribbles.renderer().categories()  # symbols live as long as this list
    widths = [c.symbol().symbolLayer(1).width() for c in scribble_categories]
    assert widths == [pytest.approx(5 * raster.rasterUnitsPerPixelX())] * 3


def test_drawn_feature_gets_the_active_class_without_a_form(dock, raster, tmp_path):
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([class_list.SegClass(n, c) for n, c in
                                  (("water", "#1f78b4"), ("land", "#d9c89e"), ("road", "#e31a1c"))])
    scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "l.gpkg")) if "scribbles" in l.name())
    scribbles.startEditing()
    dock.labels.active_class.setCurrentIndex(2)
    assert scribbles.editFormConfig().suppress() == QgsEditFormConfig.SuppressOn
    draw_line(scribbles, [(60, 10), (80, 20)])
    dock.labels.active_class.setCurrentIndex(1)
    draw_line(scribbles, [(60, 40), (80, 50)])
    assert scribbles.commitChanges()
    assert sorted(f[CLASS_FIELD] for f in scribbles.getFeatures()) == [1, 2]


def test_removing_a_class_deletes_its_labels_and_keeps_ids_contiguous(dock, raster, tmp_path):
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([class_list.SegClass(n, c) for n, c in
                                  (("a", "#111111"), ("b", "#222222"), ("c", "#333333"))])
    scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "l.gpkg")) if "scribbles" in l.name())
    scribbles.startEditing()
    for class_id in (0, 1, 2):
        dock.labels.active_class.setCurrentIndex(class_id)
        draw_line(scribbles, [(10, 10 + class_id), (20, 10 + class_id)])
    dock.labels.class_table.remove_class(1)
    assert sorted(f[CLASS_FIELD] for f in scribbles.getFeatures()) == [0, 1]
    assert categories(scribbles) == [(0, "a", "#111111"), (1, "c", "#333333")]


def test_a_raster_without_crs_is_explained_where_it_is_picked(dock, raster, project, tmp_path):
    section = QgsRasterLayer(str(make_raster(tmp_path / "section.tif", georeferenced=False)), "section")
    project.addMapLayer(section)
    dock.labels.raster_combo.setLayer(section)
    assert not dock.labels.crs_note.isHidden() and "section has no CRS" in dock.labels.crs_note.text()
    canvas = QgsMapCanvas()
    canvas.resize(400, 400)
    canvas.setExtent(QgsRectangle(500, 500, 5000, 5000))  # far from the section
    placed = SemiSegDock(canvas=canvas)
    try:
        placed.labels.raster_combo.setLayer(raster)
        placed.labels.raster_combo.setLayer(section)  # picked: the map goes to it
        assert canvas.extent().contains(section.extent().buffered(-1)) and canvas.extent().width() < 3 * section.extent().width()
    finally:
        placed.dispose()
    dock.labels.raster_combo.setLayer(raster)  # georeferenced: nothing to explain
    assert dock.labels.crs_note.isHidden()

    from semiseg_qgis.maps import results
    mosaic = QgsRasterLayer(str(make_raster(tmp_path / "mosaic.tif", georeferenced=False)), "mosaic")
    project.addMapLayer(mosaic)  # listed above the section, at the same place
    results.group_above(project, "section maps", section)
    results.group_above(project, "scene maps", raster)
    order = [node.name() for node in project.layerTreeRoot().children()]
    assert order[0] == "section maps"  # not hidden under the mosaic at the same place
    assert order.index("scene maps") == order.index("scene") - 1  # right above its raster


def test_label_layers_of_a_raster_without_crs_have_no_crs(dock, project, tmp_path):
    raster = QgsRasterLayer(str(make_raster(tmp_path / "section.tif", georeferenced=False)), "section")
    project.addMapLayer(raster)
    assert not raster.crs().isValid()
    dock.labels.raster_combo.setLayer(raster)
    for layer in dock.new_label_layers(str(tmp_path / "section_labels.gpkg")):
        assert layer.isValid() and not layer.crs().isValid()


def test_job_directory_written_from_the_dock(dock, raster, tmp_path):
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([class_list.SegClass("water", "#1F78B4"), class_list.SegClass("land", "#d9c89e")])
    scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "l.gpkg")) if "scribbles" in l.name())
    scribbles.startEditing()  # unsaved edits are part of the job
    draw_line(scribbles, [(10, 10), (30, 30)])
    dock.unlabeled.add(str(tmp_path / "other.tif"))
    dock.options.steps.setValue(20)
    dock.options.tile_size.setValue(64)
    dock.labels.line_width.setValue(4)
    job_dir = dock.write_job(tmp_path / "job")
    spec = json.loads((job_dir / "job.json").read_text())
    assert spec["version"] == 1
    assert spec["classes"] == [{"id": 0, "name": "water", "color": "#1f78b4"},
                               {"id": 1, "name": "land", "color": "#d9c89e"}]
    assert spec["labeled"] == [{"raster": raster.source(), "labels": "labels.gpkg",
                                "class_field": "class_id", "line_width_px": 4}]
    assert spec["unlabeled"] == [str(tmp_path / "other.tif")]
    assert spec["method"]["name"] == "mean_teacher" and spec["method"].get("blend_on_validation", True)
    assert spec["train"]["steps"] == 20 and spec["train"]["tile_size"] == 64
    assert spec["predict"] == [raster.source()]
    from osgeo import ogr
    labels = ogr.Open(str(job_dir / "labels.gpkg"))
    counts = {labels.GetLayer(i).GetName(): labels.GetLayer(i).GetFeatureCount() for i in range(labels.GetLayerCount())}
    assert counts == {"scene_regions": 0, "scene_scribbles": 1, "scene_points": 0}
    assert dock.runs.jobs.count() == 1


def scribbled_two_class_dock(dock, raster, tmp_path) -> None:
    """The dock with two classes and one scribble on `raster`: ready to write a job."""
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([class_list.SegClass("water", "#1F78B4"), class_list.SegClass("land", "#d9c89e")])
    scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "l.gpkg")) if "scribbles" in l.name())
    scribbles.startEditing()
    draw_line(scribbles, [(10, 10), (30, 30)])


def test_quick_map_writes_a_pixel_forest_job_of_the_same_labels(dock, raster, tmp_path):
    scribbled_two_class_dock(dock, raster, tmp_path)
    trained = json.loads((dock.write_job(tmp_path / "deep") / "job.json").read_text())
    quick_dir = dock.write_job(quick=True)
    quick = json.loads((quick_dir / "job.json").read_text())
    assert quick_dir.name.startswith("quick-") and quick["method"] == {"name": "pixel_forest"}
    assert "model" not in quick  # a forest has no network to start from
    assert {k: v for k, v in quick.items() if k != "method"} == {k: v for k, v in trained.items() if k != "method"}


def test_a_pretrained_encoder_file_goes_into_the_job_but_not_into_a_quick_map(dock, raster, tmp_path):
    scribbled_two_class_dock(dock, raster, tmp_path)
    weights = tmp_path / "r18.safetensors"
    weights.write_bytes(b"checked by the engine")
    dock.options.encoder_weights.setFilePath(str(weights))
    assert json.loads((dock.write_job(tmp_path / "deep") / "job.json").read_text())["model"] == {"encoder_weights": str(weights)}
    assert "model" not in json.loads((dock.write_job(quick=True) / "job.json").read_text())  # a forest has no encoder
    # a file the engine cannot read as weights, or weights beside a start model: refused before a job folder is made
    (tmp_path / "notes.txt").write_text("x")
    for weights_file, start_model, refusal in ((tmp_path / "notes.txt", "", "is not a weights file"),
                                               (weights, str(tmp_path / "deep" / "model"), "leave one of them empty")):
        (tmp_path / "deep" / "model").mkdir(exist_ok=True)
        (tmp_path / "deep" / "model" / "model.json").write_text("{}")
        dock.options.encoder_weights.setFilePath(str(weights_file))
        dock.options.init_model.setFilePath(start_model)
        assert dock.start_training(job_dir=tmp_path / "refused") is None
        assert refusal in dock.train_notice.text() and "Pretrained encoder" in dock.train_notice.text()
        assert not (tmp_path / "refused").exists()


def test_a_tile_size_off_the_32_grid_is_refused_before_a_job_folder_is_made(dock, raster, tmp_path):
    scribbled_two_class_dock(dock, raster, tmp_path)
    dock.options.tile_size.setValue(100)
    assert dock.start_training(job_dir=tmp_path / "job") is None
    assert "Tile size 100 px is not a multiple of 32" in dock.train_notice.text() and "use 96 px" in dock.train_notice.text()
    assert not (tmp_path / "job").exists()


def method_spec(dock, tmp_path, name="job"):
    return json.loads((dock.write_job(tmp_path / name) / "job.json").read_text())["method"]


def test_method_combo_puts_the_engines_default_first_and_disables_multi_domain_methods(dock):
    dock.options.show_methods(MethodCatalog.from_answer({**METHODS_ANSWER, "default": "s6"}))
    names = [dock.options.method.itemData(i) for i in range(dock.options.method.count())]
    assert names == ["s6"] + [n for n in METHODS_ANSWER["methods"] if n != "s6"]
    assert dock.options.method.itemText(0) == "s6 (default)" and dock.options.method.currentData() == "s6"
    assert dock.options.method.itemData(0, Qt.ItemDataRole.ToolTipRole) == METHODS_ANSWER["methods"]["s6"]["summary"]
    usss = dock.options.method.model().item(names.index("usss"))
    assert not usss.isEnabled() and "several domains" in usss.toolTip()
    assert all(dock.options.method.model().item(i).isEnabled() for i, n in enumerate(names) if n != "usss")
    assert dock.options.method_note.isHidden()


def test_only_changed_method_parameters_go_into_job_json(dock, raster, tmp_path):
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([class_list.SegClass("water", "#1f78b4"), class_list.SegClass("land", "#d9c89e")])
    dock.new_label_layers(str(tmp_path / "l.gpkg"))
    dock.options.show_methods(MethodCatalog.from_answer(METHODS_ANSWER))
    dock.options.method.setCurrentIndex(dock.options.method.findData("cct"))
    form = dock.options.method_form
    properties = METHODS_ANSWER["methods"]["cct"]["parameters"]["properties"]  # those to try first on top
    assert [f.key for f in form.fields] == sorted(properties, key=lambda k: not properties[k].get("key"))
    assert method_spec(dock, tmp_path, "defaults") == {"name": "cct"}  # every widget at its default

    form.field("weight").widget.setValue(12.5)
    assert method_spec(dock, tmp_path, "weight") == {"name": "cct", "weight": 12.5}
    assert form.field("weight").label.font().bold() and not form.field("warmup").label.font().bold()
    form.field("weight").widget.clear()  # the clear button puts the default back
    assert method_spec(dock, tmp_path, "cleared") == {"name": "cct"}

    assert [form.field("background").widget.item(i).text() for i in range(2)] == ["water", "land"]
    dock.labels.class_table.rename(1, "sand")  # the class list follows the table
    background = form.field("background").widget
    assert [background.item(i).text() for i in range(background.count())] == ["water", "sand"]
    background.item(1).setCheckState(Qt.CheckState.Checked)
    confidence = form.field("confidence").widget
    confidence.setValue(confidence.minimum())
    assert confidence.text() == "off"
    form.field("decoders.vat").widget.setValue(3)
    form.field("distance").widget.setCurrentText("js")
    form.field("abce").widget.setChecked(True)
    assert method_spec(dock, tmp_path, "many") == {"name": "cct", "background": ["sand"], "confidence": None,
                                                   "decoders": {"vat": 3}, "distance": "js", "abce": True}

    dock.options.method.setCurrentIndex(dock.options.method.findData("aux"))  # a nullable default reads "auto"
    assert form.field("lambda").widget.text() == "auto" and form.field("task").widget.currentText() == "kmeans (default)"
    form.field("lambda").widget.setValue(0.5)
    form.field("clusters").widget.setValue(4)
    assert method_spec(dock, tmp_path, "aux") == {"name": "aux", "lambda": 0.5, "clusters": 4}


def test_an_engine_without_the_methods_command_falls_back_to_the_default_method(dock, tmp_path):
    old_engine = tmp_path / "python"
    old_engine.write_text("#!/bin/sh\necho \"semiseg: error: argument command: invalid choice: 'methods'\" >&2\n"
                          "exit 2\n")
    os.chmod(old_engine, 0o755)
    dock.engine.python_edit.setFilePath(str(old_engine))
    from test_engine import wait
    wait(lambda: dock.options.methods_task is None, 60)
    assert [dock.options.method.itemData(i) for i in range(dock.options.method.count())] == ["mean_teacher"]
    assert "too old" in dock.options.method_note.text() and "invalid choice" in dock.options.method_note.text()
    assert not dock.options.method_note.isHidden()
    assert dock.options.method_form.values() == {}


def test_missing_label_layers_are_reported_not_raised(dock, raster):
    dock.labels.raster_combo.setLayer(raster)
    assert dock.start_training() is None
    assert "label layers" in dock.train_notice.text()


def test_classes_come_back_with_the_project(dock, project, tmp_path):
    dock.labels.class_table.set_classes([class_list.SegClass("a", "#ff0000"), class_list.SegClass("b", "#00ff00"),
                                  class_list.SegClass("c", "#0000ff")])
    assert project.write(str(tmp_path / "p.qgz"))
    project.clear()
    assert [c.name for c in dock.labels.class_table.classes()] == ["class 1", "class 2"]
    assert project.read(str(tmp_path / "p.qgz"))
    assert [(c.name, c.color) for c in dock.labels.class_table.classes()] == [
        ("a", "#ff0000"), ("b", "#00ff00"), ("c", "#0000ff")]


def test_label_layers_and_their_labels_come_back_with_the_project(dock, raster, project, tmp_path):
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([class_list.SegClass("water", "#1f78b4"), class_list.SegClass("land", "#d9c89e")])
    scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "l.gpkg")) if "scribbles" in l.name())
    scribbles.startEditing()
    draw_line(scribbles, [(10, 10), (30, 30)])
    assert scribbles.commitChanges()
    assert project.write(str(tmp_path / "p.qgz"))
    project.clear()
    assert project.read(str(tmp_path / "p.qgz"))

    reopened = project.mapLayersByName("scene")[0]
    dock.labels.raster_combo.setLayer(reopened)
    assert dock.labels.labelled_label.text() == "Labelled rasters: scene"
    spec = json.loads((dock.write_job(tmp_path / "job") / "job.json").read_text())
    assert spec["labeled"] == [{"raster": reopened.source(), "labels": "labels.gpkg", "class_field": "class_id",
                                "line_width_px": 3}]
    assert [c["name"] for c in spec["classes"]] == ["water", "land"]
    from osgeo import ogr
    assert ogr.Open(str(tmp_path / "job" / "labels.gpkg")).GetLayerByName("scene_scribbles").GetFeatureCount() == 1


def test_the_training_and_unlabeled_rasters_belong_to_their_project(dock, project, tmp_path):
    first = QgsRasterLayer(str(make_raster(tmp_path / "first.tif")), "first")
    second = QgsRasterLayer(str(make_raster(tmp_path / "second.tif")), "second")
    project.addMapLayers([first, second])
    dock.labels.raster_combo.setLayer(second)
    dock.labels.raster_combo.activated.emit(dock.labels.raster_combo.currentIndex())  # as when the user picks it
    dock.unlabeled.add(str(tmp_path / "mosaic.tif"), "mosaic")
    assert project.write(str(tmp_path / "dubai.qgz"))
    project.clear()  # another project: nothing of the first one's
    assert dock.unlabeled.paths() == []
    assert project.read(str(tmp_path / "dubai.qgz"))
    assert dock.unlabeled.paths() == [str(tmp_path / "mosaic.tif")] and dock.unlabeled.list.item(0).text() == "mosaic"
    assert dock.labels.raster_combo.currentLayer().name() == "second"


def test_an_unlabeled_raster_with_other_bands_is_refused_before_a_job_folder_is_made(dock, raster, tmp_path):
    from osgeo import gdal

    scribbled_two_class_dock(dock, raster, tmp_path)
    gdal.GetDriverByName("GTiff").Create(str(tmp_path / "seismic.tif"), 32, 32, 1, gdal.GDT_Float32).FlushCache()
    dock.unlabeled.add(str(tmp_path / "seismic.tif"))
    assert dock.start_training(job_dir=tmp_path / "job") is None
    assert "The unlabeled raster seismic.tif has 1 band(s), the training raster scene 3" in dock.train_notice.text()
    assert not (tmp_path / "job").exists()


def test_new_label_layers_are_ready_to_draw_and_default_beside_the_raster(dock, raster, tmp_path):
    dock.labels.raster_combo.setLayer(raster)
    assert dock.labels.default_labels_path(raster) == str(tmp_path / "scene_labels.gpkg")  # unsaved project: not the home folder
    layers = dock.new_label_layers(str(tmp_path / "l.gpkg"))
    assert len(layers) == 3 and all(l.isEditable() for l in layers)  # scribbles, regions and points


def test_open_log_shows_the_log_in_qgis_where_no_program_opens_it(dock, tmp_path, monkeypatch):
    import semiseg_qgis.dock.jobs_section as dock_module

    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "console.txt").write_text("semiseg: error: something to read\n")
    dock.runs.current_job = tmp_path / "job"
    monkeypatch.setattr(dock_module.QDesktopServices, "openUrl", lambda url: False)
    dock.runs.open_log()
    from qgis.PyQt.QtWidgets import QPlainTextEdit

    assert dock.runs.log_view.isVisible() and "something to read" in dock.runs.log_view.findChild(QPlainTextEdit).toPlainText()


def test_jobs_go_next_to_the_project_unless_a_folder_is_set(dock, raster, project, tmp_path):
    dock.labels.raster_combo.setLayer(raster)
    dock.new_label_layers(str(tmp_path / "l.gpkg"))
    project.setFileName(str(tmp_path / "project.qgz"))
    assert dock.write_job().parent == tmp_path / "semiseg_jobs"
    dock.engine.jobs_folder.setFilePath(str(tmp_path / "elsewhere"))
    try:
        assert dock.write_job().parent == tmp_path / "elsewhere"
    finally:
        dock.engine.jobs_folder.setFilePath("")


def test_every_raster_with_drawn_labels_is_a_labelled_raster_of_the_job(dock, raster, project, tmp_path):
    dock.labels.class_table.set_classes([class_list.SegClass("water", "#1f78b4"), class_list.SegClass("land", "#d9c89e")])
    others = []
    for name in ("second", "empty"):
        layer = QgsRasterLayer(str(make_raster(tmp_path / f"{name}.tif", size=64)), name)
        project.addMapLayer(layer)
        dock.labels.raster_combo.setLayer(layer)
        others.append((layer, dock.new_label_layers(str(tmp_path / f"{name}_labels.gpkg"))))
    second_scribbles = next(l for l in others[0][1] if "scribbles" in l.name())
    second_scribbles.startEditing()
    draw_line(second_scribbles, [(5, 5), (20, 20)])
    draw_line(second_scribbles, [(40, 5), (60, 20)])
    dock.labels.raster_combo.setLayer(raster)  # the picked raster: first, predicted
    scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "l.gpkg")) if "scribbles" in l.name())
    assert dock.labels.labelled_label.text() == \
        "Labelled rasters: scene, second (left out, no labels drawn yet: empty)"
    spec = json.loads((dock.write_job(tmp_path / "job") / "job.json").read_text())
    assert spec["labeled"] == [
        {"raster": raster.source(), "labels": "labels.gpkg", "class_field": "class_id", "line_width_px": 3},
        {"raster": others[0][0].source(), "labels": "labels_2.gpkg", "class_field": "class_id", "line_width_px": 3}]
    assert spec["predict"] == [raster.source()]
    from osgeo import ogr
    second = ogr.Open(str(tmp_path / "job" / "labels_2.gpkg"))
    assert second.GetLayerByName("second_scribbles").GetFeatureCount() == 2
    assert not (tmp_path / "job" / "labels_3.gpkg").exists()
    project.removeMapLayer(others[0][0].id())  # its label layers stay, without their raster
    assert dock.labels.labelled_label.text() == "Labelled rasters: scene (left out, no labels drawn yet: empty)"
    assert scribbles.isValid()


def test_processing_train_refuses_unpaired_rasters_and_label_layers(raster, project, tmp_path):
    import processing
    from qgis.core import QgsProcessingException, QgsVectorLayer
    second = QgsRasterLayer(str(make_raster(tmp_path / "second.tif", size=64)), "second")
    labels = [QgsVectorLayer("LineString?crs=EPSG:32633&field=class_id:integer", f"l{i}", "memory")
              for i in range(3)]
    project.addMapLayers([second, *labels])

    with pytest.raises(QgsProcessingException) as raised:
        processing.run("semiseg:train", {
            "RASTER": [raster, second], "LABELS": labels, "CLASSES": "water, land",
            "JOB_DIR": str(tmp_path / "job")})
    assert "2 training rasters but 3 label layers" in str(raised.value)
    assert not (tmp_path / "job" / "job.json").exists()


def test_a_map_view_in_another_crs_gives_the_same_part_of_the_raster(raster, project):
    """"Only the visible map area" with the map in Web Mercator: --bounds must be in the raster's CRS."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsRectangle
    from semiseg_qgis.maps import map_area

    inside = QgsRectangle(*to_map(20, 70), *to_map(60, 10))  # columns 20-60, rows 10-70, in UTM 33N
    mercator = QgsCoordinateReferenceSystem("EPSG:3857")
    view = QgsCoordinateTransform(raster.crs(), mercator, project).transformBoundingBox(inside)
    part = map_area.part_of_layer(view, mercator, raster, project)
    assert part.contains(inside)  # the transformed box can only grow, by less than a pixel here
    assert part.width() - inside.width() < 2 and part.height() - inside.height() < 2
    beside = QgsCoordinateTransform(raster.crs(), mercator, project).transformBoundingBox(
        QgsRectangle(*to_map(300, 300), *to_map(400, 200)))
    assert map_area.part_of_layer(beside, mercator, raster, project) is None


def test_processing_train_refuses_a_pretrained_encoder_that_is_no_weights_file(raster, project, tmp_path):
    import processing
    from qgis.core import QgsProcessingException, QgsVectorLayer
    labels = QgsVectorLayer("LineString?crs=EPSG:32633&field=class_id:integer", "l", "memory")
    project.addMapLayers([labels])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(QgsProcessingException) as raised:
        processing.run("semiseg:train", {
            "RASTER": [raster], "LABELS": [labels], "CLASSES": "water, land",
            "ENCODER_WEIGHTS": str(tmp_path / "notes.txt"), "JOB_DIR": str(tmp_path / "job")})
    assert "Pretrained encoder" in str(raised.value) and "is not a weights file" in str(raised.value)
    assert not (tmp_path / "job" / "job.json").exists()
