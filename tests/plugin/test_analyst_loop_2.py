"""The analyst's loop in the real desktop, second half of issue 41: messages where the button is,
a SEG-Y volume's prediction, progress per phase, the zoom after Open SEG-Y, classes from files,
and what a job keeps on disk; in PyQGIS, without the engine (events written as the engine writes them)."""
import json
from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication, QPoint
from qgis.core import QgsRasterLayer

from scenes import make_raster


def _shown_in_viewport(dock, widget) -> bool:
    """Whether `widget` lies inside the visible part of the dock's scroll area, top to bottom."""
    viewport = dock.scroll.viewport()
    top = widget.mapTo(viewport, QPoint(0, 0)).y()
    return widget.isVisibleTo(dock) and 0 <= top and top + widget.height() <= viewport.height()


def test_train_again_refused_says_so_under_its_button_scrolled_into_view(dock, project, tmp_path):
    raster = QgsRasterLayer(str(make_raster(tmp_path / "scene.tif")), "scene")
    project.addMapLayer(raster)
    dock.labels.raster_combo.setLayer(raster)
    dock.resize(320, 360)
    dock.show()
    QCoreApplication.processEvents()
    bar = dock.scroll.verticalScrollBar()
    bar.setValue(bar.maximum())  # the user had scrolled down to the Jobs section
    QCoreApplication.processEvents()
    dock.again_button.click()
    QCoreApplication.processEvents()
    notice = dock.train_notice
    assert "No earlier training of this raster to continue" in notice.text() and notice.is_error
    assert notice.parentWidget() is dock.again_button.parentWidget()  # in the Train group, under its buttons
    assert _shown_in_viewport(dock, notice)
    assert dock.runs.error_label.isHidden()  # not only at the bottom of the dock

    dock.predict.setCollapsed(False)
    dock.predict.predict_button.click()  # no model picked: said under Predict, not under Train
    QCoreApplication.processEvents()
    assert "Pick a model folder" in dock.predict.notice.text() and _shown_in_viewport(dock, dock.predict.notice)
    dock.train_button.click()  # no label layers: the Train notice now says that instead
    assert "no label layers" in dock.train_notice.text()
    dock.hide()


def _section(path: Path, volume: Path, line: int) -> Path:
    """A section raster as `semiseg segy sections` writes it: no CRS, and its sidecar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    make_raster(path, size=32, georeferenced=False)
    Path(str(path) + ".segy.json").write_text(json.dumps({"volume": str(volume), "kind": "inline", "line": line,
                                                          "sample_interval": 4.0, "first_sample": 0.0, "samples": 32}))
    return path


def _events(folder: Path, events: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def _volume_prediction(run: Path, volume: Path, line: int) -> None:
    """What `semiseg predict MODEL f3_crop.sgy --inline 120 --events` leaves in its --out folder
    (cli._cmd_predict): the volume's two SEG-Y maps, the section's copy and its two rasters."""
    from osgeo import gdal
    section = _section(run / f"{volume.stem}_inline_{line}.tif", volume, line)
    outputs = []
    for kind in ("classes_segy", "confidence_segy"):
        path = run / f"{volume.stem}_{kind.split('_')[0]}.sgy"
        path.write_bytes(b"\0" * 3600)
        outputs.append({"type": "output", "kind": kind, "path": path.name, "source": str(volume)})
    for kind in ("classes", "confidence"):
        path = run / f"{section.stem}_{kind}.tif"
        ds = gdal.GetDriverByName("GTiff").Create(str(path), 32, 32, 1, gdal.GDT_Byte)
        ds.SetGeoTransform((0, 1, 0, 0, 0, -1))
        ds = None
        outputs.append({"type": "output", "kind": kind, "path": path.name, "source": str(section)})
    _events(run, [{"type": "start", "pid": 1}, {"type": "phase", "phase": "predict", "message": f"predicting {volume.name}"},
                  {"type": "progress", "step": 23, "total": 23, "unit": "window"}, *outputs,
                  {"type": "done", "status": "completed", "exit_code": 0, "message": "predicted 1 raster(s)"}])


def test_a_volume_prediction_is_a_success_that_names_its_files_and_adds_the_sections_map(dock, project, tmp_path):
    volume = tmp_path / "f3_crop.sgy"
    volume.write_bytes(b"\0" * 3600)
    opened = QgsRasterLayer(str(_section(tmp_path / "segy" / "f3_crop_inline_120.tif", volume, 120)), "f3_crop_inline_120")
    other = QgsRasterLayer(str(_section(tmp_path / "segy" / "f3_crop_inline_125.tif", volume, 125)), "f3_crop_inline_125")
    project.addMapLayers([opened, other])
    run = tmp_path / "predict-volume"
    _volume_prediction(run, volume, 120)

    groups = dock.add_results(run)
    assert dock.runs.error_label.isHidden(), dock.runs.error_label.text()  # no "reported no classes raster of ....sgy"
    said = dock.predict.notice.text()
    assert not dock.predict.notice.is_error and not dock.predict.notice.isHidden()
    assert "f3_crop_classes.sgy and f3_crop_confidence.sgy" in said and str(run) in said, said
    assert "f3_crop_inline_120 classes" in said
    assert [n.layer().name() for g in groups for n in g.findLayers()] == ["f3_crop_inline_120 classes",
                                                                          "f3_crop_inline_120 confidence"]
    classes = groups[0].findLayers()[0].layer()
    assert classes.customProperty("semiseg/source") == str(run / "f3_crop_inline_120.tif")
    assert dock.map.classes.currentLayer() == classes  # shown in Map and export, ready to look at
