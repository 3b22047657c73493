"""The plugin driving the real engine process: validation, training, cancel, re-attach, Processing.

Needs the engine (see conftest.engine_python); every run is tiny (64 px tiles, a few steps, CPU).
"""
import json
import math
import os
import re
import time
from pathlib import Path

import pytest
from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.core import (QgsApplication, QgsGeometry, QgsPointXY, QgsProcessingContext, QgsProcessingFeedback, QgsProject, QgsRasterLayer,
                       QgsRectangle, QgsSettings, QgsVectorLayer, QgsVectorLayerUtils)
from qgis.gui import QgsMapCanvas

import processing
from semiseg_qgis.common import classes as class_list
from semiseg_qgis.engine_process import engine, engine_setup
from semiseg_qgis.jobs import job_registry
from semiseg_qgis.common import paths
from semiseg_qgis.jobs import job as job_module
from semiseg_qgis.dock.dock import SemiSegDock
from semiseg_qgis.jobs.events import read_state

from scenes import ORIGIN_X, ORIGIN_Y, PIXEL, make_raster, to_map
from test_dock import draw_line

TIMEOUT_S = 600
STEPS = 3  # each step costs seconds on a shared CPU; 3 still shows progress, metrics and an end


def wait(predicate, timeout_s=TIMEOUT_S):
    """Run the Qt event loop (task signals are queued to it) until `predicate()` holds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the engine"
        QCoreApplication.processEvents()
        time.sleep(0.05)


def run_to_end(task):
    ended = []
    task.ended.connect(ended.append)
    wait(lambda: ended)
    return ended[0]


@pytest.fixture()
def labelled(project, tmp_path, engine_python):
    """A dock with a raster, two classes and scribbles in each half, set for a tiny CPU run."""
    raster = QgsRasterLayer(str(make_raster(tmp_path / "scene.tif")), "scene")
    project.addMapLayer(raster)
    canvas = QgsMapCanvas()
    canvas.resize(400, 400)
    canvas.setDestinationCrs(raster.crs())
    dock = SemiSegDock(canvas=canvas)
    dock.engine.python_edit.setFilePath(engine_python)
    dock.labels.raster_combo.setLayer(raster)
    dock.labels.class_table.set_classes([class_list.SegClass("water", "#1f78b4"), class_list.SegClass("land", "#d9c89e")])
    scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "labels.gpkg")) if "scribbles" in l.name())
    scribbles.startEditing()
    for class_id, (left, right) in enumerate(((4, 40), (56, 92))):
        dock.labels.active_class.setCurrentIndex(class_id)
        for row in (8, 30, 52, 74, 90):
            draw_line(scribbles, [(left, row), (right, row + 3)])
    assert scribbles.commitChanges()
    dock.options.steps.setValue(STEPS)
    dock.options.tile_size.setValue(64)
    dock.options.batch_size.setValue(2)
    dock.options.device.setCurrentText("cpu")
    yield dock, raster, scribbles
    for job_dir in list(dock.controller.tasks):
        dock.cancel(job_dir)
    wait(lambda: not dock.controller.busy())
    dock.dispose()
    dock.deleteLater()


def test_job_written_by_the_dock_is_valid_for_the_engine(labelled, tmp_path, engine_python):
    dock, _, _ = labelled
    dock.options.polygons.setChecked(True)
    job_dir = dock.write_job(tmp_path / "job")
    assert json.loads((job_dir / "job.json").read_text())["inference"] == {"polygons": True}
    result = engine.run(engine.command(engine_python, "validate", str(job_dir)))
    assert result.returncode == 0, result.stderr


def label_second_raster(dock, project, tmp_path, size=64):
    """A second raster, labelled through the dock like the first; the first stays picked."""
    first = dock.labels.raster_combo.currentLayer()
    second = QgsRasterLayer(str(make_raster(tmp_path / "second.tif", size=size)), "second")
    project.addMapLayer(second)
    dock.labels.raster_combo.setLayer(second)
    scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "second_labels.gpkg"))
                     if "scribbles" in l.name())
    scribbles.startEditing()
    for class_id, (left, right) in enumerate(((4, 26), (38, 60))):
        dock.labels.active_class.setCurrentIndex(class_id)
        for row in (8, 30, 52):
            draw_line(scribbles, [(left, row), (right, row + 3)])
    assert scribbles.commitChanges()
    dock.labels.raster_combo.setLayer(first)
    return second, scribbles


def test_job_with_two_labelled_rasters_is_valid_for_the_engine(labelled, tmp_path, project, engine_python):
    dock, raster, _ = labelled
    second, _ = label_second_raster(dock, project, tmp_path)
    assert dock.labels.labelled_label.text() == "Labelled rasters: scene, second"
    job_dir = dock.write_job(tmp_path / "job")
    spec = json.loads((job_dir / "job.json").read_text())
    assert [(e["raster"], e["labels"]) for e in spec["labeled"]] == [
        (raster.source(), "labels.gpkg"), (second.source(), "labels_2.gpkg")]
    result = engine.run(engine.command(engine_python, "validate", str(job_dir)))
    assert result.returncode == 0, result.stderr
    assert "2 labelled raster(s)" in result.stdout + result.stderr


def test_training_adds_aligned_result_layers(labelled, tmp_path, project):
    dock, raster, _ = labelled
    task = dock.start_training(tmp_path / "job")
    assert task is not None, dock.train_notice.text()
    seen = []
    task.stateChanged.connect(lambda s: seen.append((s.phase, s.unit, s.step, s.total)))
    state = run_to_end(task)
    assert state.status == "completed", state.error_text()
    assert ("train", "step", STEPS, STEPS) in seen
    assert state.unit == "window" and state.step == state.total > 0  # the map after training shows its progress
    assert f"window {state.total}/{state.total}" in dock.runs.status_label.text()
    # a completed job resumes nothing: its checkpoint (optimizer state included) is gone, model/ stays
    assert not (tmp_path / "job" / "checkpoints").exists() and (tmp_path / "job" / "model" / "model.json").is_file()
    group = project.layerTreeRoot().findGroup("SemiSeg job")
    assert group is not None
    names = [node.layer().name() for node in group.findLayers()]
    assert names == ["scene suggestions", "scene classes", "scene confidence"]  # where to label next on top
    assert [node.itemVisibilityChecked() for node in group.findLayers()] == [True, True, False]  # confidence on demand
    suggestions, *maps = group.findLayers()
    assert suggestions.layer().crs() == raster.crs() and raster.extent().contains(suggestions.layer().extent())
    for node in maps:
        layer = node.layer()
        assert layer.isValid() and layer.crs() == raster.crs()
        assert layer.extent() == raster.extent()
        assert (layer.width(), layer.height()) == (raster.width(), raster.height())
    classes_layer = group.findLayers()[1].layer()
    assert classes_layer.renderer().type() == "paletted"
    assert [c.label for c in classes_layer.renderer().classes()] == ["water", "land"]
    confidence_renderer = group.findLayers()[2].layer().renderer()
    assert confidence_renderer.type() == "singlebandpseudocolor"
    assert (confidence_renderer.classificationMin(), confidence_renderer.classificationMax()) == (0.0, 1.0)
    # the group sits right above the source raster
    root = project.layerTreeRoot()
    assert root.children().index(group) + 1 == root.children().index(root.findLayer(raster.id()))
    assert "completed" in dock.runs.status_label.text()
    assert dock.predict.model_dir.filePath() == str(tmp_path / "job" / "model")

    # Train again from that model (after correcting labels): the engine accepts the job
    dock.options.init_model.setFilePath(dock.predict.model_dir.filePath())
    again = dock.write_job(tmp_path / "again")
    assert json.loads((again / "job.json").read_text())["model"] == {"init_from": str(tmp_path / "job" / "model")}
    result = engine.run(engine.command(dock.engine.python_edit.filePath(), "validate", str(again)))
    assert result.returncode == 0, result.stderr
    dock.options.init_model.setFilePath(str(tmp_path))  # not a model folder: refused before any job is written
    assert dock.start_training(tmp_path / "not_a_model") is None
    assert "not a model folder" in dock.train_notice.text() and not (tmp_path / "not_a_model").exists()
    dock.options.init_model.setFilePath("")

    # "Predict" with the model just trained follows the engine's events and adds another aligned group
    dock.predict.predict_raster.setLayer(raster)
    task = dock.start_prediction(tmp_path / "predicted")
    reported = []
    task.stateChanged.connect(reported.append)
    state = run_to_end(task)
    QCoreApplication.processEvents()
    assert state.status == "completed", state.error_text()
    assert any(s.phase == "predict" for s in reported)
    assert reported[-1].total > 0 and reported[-1].step == reported[-1].total  # windows done / to do
    assert state.step == state.total == reported[-1].total
    assert f"window {state.total}/{state.total}" in dock.runs.status_label.text()
    assert [o["path"] for o in state.outputs if o["kind"] != "style"] == [
        "scene_classes.tif", "scene_confidence.tif", "scene_areas.json", "scene_areas.csv", "scene_suggestions.gpkg"]
    group = project.layerTreeRoot().findGroup("SemiSeg prediction predicted")
    assert [n.layer().extent() == raster.extent() for n in group.findLayers()[1:]] == [True, True]
    assert dock.runs.log_path() == tmp_path / "predicted" / "log.txt"
    # a prediction run is listed with the jobs, with its state, and shows its progress in the Jobs section
    listed = dock.runs.jobs.itemText(dock.runs.jobs.findData(str(tmp_path / "predicted")))
    assert listed.startswith("predicted — completed")
    assert dock.runs.isAncestorOf(dock.runs.status_label) and dock.runs.isAncestorOf(dock.runs.progress)

    # "Only the visible map area": the raster's whole pixels inside the map view, on its grid
    dock.canvas.setExtent(QgsRectangle(*to_map(20.4, 70.2), *to_map(60.7, 10.5)))
    view = dock.canvas.extent()  # the canvas widens the extent to its own shape
    cols = (max(math.floor((view.xMinimum() - ORIGIN_X) / PIXEL), 0), min(math.ceil((view.xMaximum() - ORIGIN_X) / PIXEL), 96))
    rows = (max(math.floor((ORIGIN_Y - view.yMaximum()) / PIXEL), 0), min(math.ceil((ORIGIN_Y - view.yMinimum()) / PIXEL), 96))
    assert 0 < cols[1] - cols[0] < 96 and 0 < rows[1] - rows[0] < 96  # a real part of the raster
    dock.predict.visible_only.setChecked(True)
    dock.options.polygons.setChecked(True)
    state = run_to_end(dock.start_prediction(tmp_path / "visible"))
    QCoreApplication.processEvents()
    assert state.status == "completed", state.error_text()
    group = project.layerTreeRoot().findGroup("SemiSeg prediction visible")
    _, polygons, *rasters = [node.layer() for node in group.findLayers()]
    expected = QgsRectangle(*to_map(cols[0], rows[1]), *to_map(cols[1], rows[0]))
    for layer in rasters:
        assert layer.extent() == expected and layer.crs() == raster.crs()
        assert (layer.width(), layer.height()) == (cols[1] - cols[0], rows[1] - rows[0])
    # "Class polygons": a styled vector layer over the same pixels, on top of the group
    assert polygons.name() == "scene polygons" and polygons.crs() == raster.crs() and polygons.featureCount() > 0
    assert expected.contains(polygons.extent())
    assert polygons.renderer().type() == "categorizedSymbol"
    assert {c.label(): c.symbol().color().name() for c in polygons.renderer().categories()} == {
        "water": "#1f78b4", "land": "#d9c89e"}
    dock.canvas.setExtent(QgsRectangle(*to_map(300, 300), *to_map(400, 200)))  # beside the raster
    assert dock.start_prediction(tmp_path / "beside") is None
    assert "shows no part of scene" in dock.predict.notice.text()

    # "Export ONNX": the trained model as one file that `semiseg predict` runs like its package
    # (the default method's gate may blend a forest, which the export leaves out: agreed here, asked
    # in test_analyst_loop_3)
    state = run_to_end(dock.export_onnx(tmp_path / "scene.onnx", network_alone=True))
    assert state.status == "completed", state.error_text()
    assert str(tmp_path / "scene.onnx") in dock.map.message.text()
    result = engine.run(engine.command(dock.engine.python(), "predict", str(tmp_path / "scene.onnx"), raster.source(),
                                       "--out", str(tmp_path / "onnx_predicted"), "--quiet"), timeout_s=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "onnx_predicted" / "scene_classes.tif").is_file()
    dock.predict.model_dir.setFilePath("")
    assert dock.export_onnx(tmp_path / "none.onnx") is None and "model folder" in dock.map.message.text()


def test_prediction_error_is_one_line_with_the_log(labelled, tmp_path):
    dock, raster, _ = labelled
    (tmp_path / "not_a_model").mkdir()
    dock.predict.model_dir.setFilePath(str(tmp_path / "not_a_model"))
    dock.predict.predict_raster.setLayer(raster)
    state = run_to_end(dock.start_prediction(tmp_path / "predicted"))
    assert state.status == "failed"
    assert not dock.runs.error_label.isHidden()
    assert dock.runs.error_label.text().count("\n") == 0 and "not_a_model" in dock.runs.error_label.text()
    assert dock.runs.log_path() == tmp_path / "predicted" / "log.txt"
    assert dock.runs.error_label.text() in dock.runs.log_path().read_text()


def test_engine_error_is_shown_with_the_log(labelled, tmp_path):
    dock, raster, _ = labelled
    Path(raster.source()).write_bytes(b"not a raster")  # only the engine reads the pixels: it refuses the job
    state = run_to_end(dock.start_training(tmp_path / "job"))
    assert state.status == "failed"
    assert not dock.runs.error_label.isHidden()
    assert "scene.tif: not a raster GDAL can read" in dock.runs.error_label.text()
    assert dock.runs.log_button.isEnabled() and dock.runs.log_path().is_file()


def test_method_form_from_the_engine_writes_parameters_the_engine_accepts(labelled, tmp_path, engine_python):
    dock, _, _ = labelled
    answer = json.loads(engine.run(engine.command(engine_python, "methods", "--json")).stdout)
    # Not a task of QGIS's: it would announce "Task complete: list the engine's methods" to the user.
    assert not [t for t in QgsApplication.taskManager().tasks() if "methods" in t.description()]
    wait(lambda: dock.options.methods_task is None, 120)
    names = [dock.options.method.itemData(i) for i in range(dock.options.method.count())]
    assert names[0] == answer["default"] and sorted(names) == sorted(answer["methods"])
    assert dock.options.method.itemText(0) == f"{answer['default']} (default)"
    assert dock.options.method_note.isHidden(), dock.options.method_note.text()

    dock.options.method.setCurrentIndex(names.index("cct"))
    form = dock.options.method_form
    form.field("decoders.vat").widget.setValue(2)
    form.field("background").widget.item(1).setCheckState(Qt.CheckState.Checked)
    form.field("confidence").widget.setValue(form.field("confidence").widget.minimum())  # "off"
    form.field("distance").widget.setCurrentText("kl")
    job_dir = dock.write_job(tmp_path / "job")
    spec = json.loads((job_dir / "job.json").read_text())
    assert spec["method"] == {"name": "cct", "decoders": {"vat": 2}, "background": ["land"],
                              "confidence": None, "distance": "kl"}
    result = engine.run(engine.command(engine_python, "validate", str(job_dir)))
    assert result.returncode == 0, result.stderr


def test_cancel_stops_cleanly_and_offers_resume(labelled, tmp_path):
    dock, _, _ = labelled
    dock.options.steps.setValue(400)
    job_dir = tmp_path / "job"
    task = dock.start_training(job_dir)
    ended = []
    task.ended.connect(ended.append)
    wait(lambda: read_state(job_dir).step >= 2)
    wait(lambda: dock.runs.jobs.itemText(dock.runs.jobs.findData(str(job_dir))).startswith("job — running"), 30)
    assert task.flags() & task.CancelWithoutPrompt  # QGIS does not offer to cancel it as it closes ...
    assert not dock.runs.detach_note.isHidden() and "leaves this training running" in dock.runs.detach_note.text()  # ... the dock says why
    shown = []
    task.stateChanged.connect(lambda state: shown.append(dock.runs.status_label.text()))
    dock.cancel()
    wait(lambda: ended)
    assert ended[0].status == "cancelled", ended[0].error_text()
    assert not [line for line in shown if line.startswith("job: running")], shown  # a cancel is a cancel
    assert shown and all(line.startswith("job: ") for line in shown), shown
    wait(lambda: task.status() in (task.Complete, task.Terminated))
    assert task.status() == task.Complete and task.description().endswith("(cancelled)")  # not "Task failed"
    outputs = job_dir / "outputs"
    assert not outputs.exists() or not any(outputs.iterdir()), list(outputs.iterdir())
    assert (job_dir / "checkpoints" / "last.ckpt").is_file()
    assert read_state(job_dir).status == "cancelled"
    assert dock.runs.resume_button.isEnabled()
    listed = dock.runs.jobs.itemText(dock.runs.jobs.findData(str(job_dir)))
    assert listed.startswith("job — cancelled · ") and listed.endswith(" MB"), listed  # its checkpoint's disk use shows

    # Resume continues that job from its checkpoint, not from step 0 (and can be cancelled again)
    dock.runs.resume_button.click()
    resumed = []
    dock.controller.task_of(job_dir).ended.connect(resumed.append)

    def starts():
        lines = (job_dir / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if '"type": "start"' in line]
    wait(lambda: len(starts()) == 2)
    assert starts()[-1]["resumed_from_step"] >= 2
    dock.cancel()
    wait(lambda: resumed)
    assert resumed[0].status == "cancelled", resumed[0].error_text()


def test_a_cancel_before_the_engine_has_started_still_stops_it(labelled, tmp_path, engine_python):
    """The engine clears a stale cancel request as training starts; one made earlier must survive that."""
    dock, _, _ = labelled
    dock.options.steps.setValue(5000)  # far longer than the test: only the cancel can end it
    job_dir = dock.write_job(tmp_path / "job")
    process = engine.start(engine.command(engine_python, "train", str(job_dir), "--quiet", "--device", "cpu"),
                           job_dir / "console.txt")
    state = engine.watch(job_dir, process, lambda s: None, lambda: True, job_dir / "console.txt",
                         grace_s=TIMEOUT_S)  # no termination: the cancel file alone must stop it
    assert process.returncode == 130 and state.status == "cancelled", state.error_text()


def test_unloading_the_plugin_leaves_a_training_run_going_for_the_next_dock(labelled, tmp_path, project):
    dock, _, _ = labelled
    dock.options.steps.setValue(5000)
    job_dir = tmp_path / "job"
    task = dock.start_training(job_dir)
    wait(lambda: read_state(job_dir).step >= 1)
    dock.dispose()  # "the plugin unloads": the watcher stops, its slots are gone, the engine runs on
    assert not dock.controller.busy()
    wait(lambda: task.status() in (task.Complete, task.Terminated))
    assert read_state(job_dir).status == "running" and not (job_dir / "cancel").exists()
    reopened = SemiSegDock()  # "the plugin loads again": it follows the same run
    try:
        assert list(reopened.controller.tasks) == [job_dir] and reopened.runs.current_job == job_dir
        ended = []
        reopened.controller.task_of(job_dir).ended.connect(ended.append)
        reopened.cancel()  # whether or not its watcher has started yet, the engine must stop
        wait(lambda: ended)
        assert ended[0].status == "cancelled", ended[0].error_text()
        wait(lambda: read_state(job_dir).status == "cancelled")
    finally:
        reopened.dispose()


def test_qgis_cancelling_every_task_as_it_closes_leaves_the_training_running_and_followed(labelled, tmp_path):
    """QGIS 3.22 cancels every task flagged CancelWithoutPrompt as soon as the user closes it,
    before it asks to save the project (checked in the real desktop): that must not stop the
    engine, and while QGIS stays (the user answered Cancel) the dock follows the run again."""
    dock, _, _ = labelled
    dock.options.steps.setValue(5000)
    job_dir = tmp_path / "job"
    task = dock.start_training(job_dir)
    wait(lambda: read_state(job_dir).step >= 1)
    assert not task.flags() & task.CanCancel  # QGIS's task list offers no cancel that would only let go
    QgsApplication.taskManager().cancelAll()  # what QgisApp::fileExit does first
    wait(lambda: dock.controller.task_of(job_dir) not in (None, task))  # followed again by a new task
    wait(lambda: task.status() in (task.Complete, task.Terminated))
    assert task.status() == task.Complete  # no "Task failed" for letting go
    step = read_state(job_dir).step
    wait(lambda: read_state(job_dir).step > step)  # the engine trains on
    assert read_state(job_dir).status == "running" and not (job_dir / "cancel").exists()
    assert dock.runs.status_label.text().startswith("job: running"), dock.runs.status_label.text()
    ended = []
    dock.controller.task_of(job_dir).ended.connect(ended.append)
    dock.cancel()  # the Jobs section's Cancel still stops it
    wait(lambda: ended)
    assert ended[0].status == "cancelled", ended[0].error_text()


def test_a_job_another_engine_runs_is_refused_and_the_dock_says_which(labelled, tmp_path):
    """A terminal or a script may run the job the dock is asked to resume: the engine's lock refuses it."""
    import fcntl

    dock, _, _ = labelled
    job_dir = dock.write_job(tmp_path / "job")
    with open(job_dir / "engine.lock", "w") as lock:  # what a running engine holds
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(str(os.getpid()))
        lock.flush()
        state = run_to_end(dock.start_training(resume=job_dir))
    assert state.status == "failed"
    line = dock.runs.error_label.text()
    assert f"an engine (process {os.getpid()}) is already running this job" in line and line.count("\n") == 0, line


def test_results_of_a_job_that_reported_no_maps_are_a_one_line_error(labelled, tmp_path):
    dock, _, _ = labelled
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "job.json").write_text("{ not json")  # maps come from the engine's events, not job.json
    assert dock.add_results(tmp_path / "job") == []
    assert "events.jsonl" in dock.runs.error_label.text() and dock.runs.error_label.text().count("\n") == 0


def test_a_job_running_when_qgis_restarts_is_followed_to_the_end(labelled, tmp_path, project, engine_python):
    dock, raster, _ = labelled
    job_dir = dock.write_job(tmp_path / "job")
    dock.dispose()  # "QGIS closes"; the engine is started as by the earlier session
    process = engine.start(engine.command(engine_python, "train", str(job_dir), "--quiet", "--device", "cpu"),
                           job_dir / "console.txt")
    wait(lambda: read_state(job_dir).status == "running")
    assert job_registry.known_jobs(project)[-1] == job_dir
    reopened = SemiSegDock()  # "QGIS starts again": the dock finds the running job
    try:
        assert list(reopened.controller.tasks) == [job_dir] and reopened.runs.current_job == job_dir
        state = run_to_end(reopened.controller.task_of(job_dir))
        assert state.status == "completed", state.error_text()
        assert process.wait(30) == 0
        assert project.layerTreeRoot().findGroup("SemiSeg job") is not None
    finally:
        reopened.dispose()


def test_after_a_restart_the_dock_follows_every_running_job_and_cancels_the_one_shown(
        labelled, tmp_path, project, engine_python):
    """Two trainings started before QGIS closed: the next dock follows both, each list line and
    the section show that run's own state, and Cancel stops the run picked in the list only."""
    dock, _, _ = labelled
    dock.options.steps.setValue(5000)  # far longer than the test: only a cancel ends them
    jobs = [dock.write_job(tmp_path / name) for name in ("first", "second")]
    dock.dispose()  # "QGIS closes"; the engines are started as by the earlier session
    processes = [engine.start(engine.command(engine_python, "train", str(j), "--quiet", "--device", "cpu"),
                              j / "console.txt") for j in jobs]
    reopened = None
    try:
        wait(lambda: all(read_state(j).step >= 1 for j in jobs))
        reopened = SemiSegDock()  # "QGIS starts again"
        assert set(reopened.controller.tasks) == set(jobs)
        assert reopened.runs.current_job == jobs[-1]  # the newest is shown
        listed = lambda j: reopened.runs.jobs.itemText(reopened.runs.jobs.findData(str(j)))  # noqa: E731
        wait(lambda: all(listed(j).startswith(f"{j.name} — running") for j in jobs), 60)
        wait(lambda: reopened.runs.status_label.text().startswith("second: running"), 60)
        assert reopened.runs.cancel_button.isEnabled() and not reopened.train_button.isEnabled()

        reopened.runs.jobs.setCurrentIndex(reopened.runs.jobs.findData(str(jobs[0])))
        reopened.runs.jobs.activated.emit(reopened.runs.jobs.currentIndex())  # the analyst picks "first"
        assert reopened.runs.current_job == jobs[0] and reopened.runs.status_label.text().startswith("first: ")
        ended = []
        reopened.controller.task_of(jobs[0]).ended.connect(ended.append)
        reopened.runs.cancel_button.click()
        wait(lambda: ended)
        assert ended[0].status == "cancelled" and processes[0].wait(60) == 130
        assert read_state(jobs[1]).status == "running" and processes[1].poll() is None  # the other goes on
        assert list(reopened.controller.tasks) == [jobs[1]]
        assert listed(jobs[0]).startswith("first — cancelled")
        assert not reopened.runs.cancel_button.isEnabled() and not reopened.train_button.isEnabled()

        reopened.cancel(jobs[1])
        wait(lambda: not reopened.controller.busy())
        assert processes[1].wait(60) == 130 and reopened.train_button.isEnabled()
    finally:
        for job_dir, process in zip(jobs, processes):
            (job_dir / "cancel").touch()
            process.wait(120)
        if reopened is not None:
            reopened.dispose()


def test_the_jobs_list_shows_the_true_state_of_jobs_the_dock_does_not_follow(labelled, tmp_path, engine_python):
    dock, _, _ = labelled
    dock.options.steps.setValue(5000)
    job_dir = dock.write_job(tmp_path / "job")
    dock.runs.job_states_timer.setInterval(200)
    process = engine.start(engine.command(engine_python, "train", str(job_dir), "--quiet", "--device", "cpu"),
                           job_dir / "console.txt")  # run from a terminal: the dock follows nothing
    try:
        listed = lambda: dock.runs.jobs.itemText(dock.runs.jobs.findData(str(job_dir)))  # noqa: E731
        wait(lambda: listed().startswith("job — running"), 120)
        assert not dock.controller.busy()
        (job_dir / "cancel").touch()
        wait(lambda: listed().startswith("job — cancelled"), 120)
    finally:
        (job_dir / "cancel").touch()
        process.wait(120)


def test_a_quick_map_shows_its_class_areas_and_exports_as_a_print_ready_map(labelled, tmp_path, project):
    dock, raster, _ = labelled
    state = run_to_end(dock.start_training(tmp_path / "quick", quick=True))
    assert state.status == "completed", state.error_text()
    QCoreApplication.processEvents()
    classes = dock.map.classes.currentLayer()
    assert classes.name() == "scene classes" and not dock.map.isCollapsed()
    table = [[dock.map.areas.item(r, c).text() for c in range(4)] for r in range(dock.map.areas.rowCount())]
    assert [row[0] for row in table] == ["water", "land"]
    areas = json.loads(Path(classes.customProperty("semiseg/areas")).read_text())["rows"]
    assert Path(classes.customProperty("semiseg/areas")) == tmp_path / "quick" / "outputs" / "scene_areas.json"
    hectares = [f"{r['area_ha']:,.2f}" for r in areas]
    assert [row[1] for row in table] == hectares and sum(r["pixels"] for r in areas) == 96 * 96
    assert dock.map.areas.horizontalHeaderItem(1).text() == "Area (ha)"

    dock.map.title.setText("Scene: water and land")
    assert dock.export_map(tmp_path / "scene.tif" / "scene.pdf") == []  # under a file: nowhere to write
    assert dock.runs.error_label.text().startswith(f"{tmp_path / 'scene.tif' / 'scene.pdf'}: QGIS could not write")
    pdf, png = dock.export_map(tmp_path / "maps" / "scene.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and png.is_file()
    layout = project.layoutManager().layoutByName("Scene: water and land")  # kept for the user to edit
    assert layout is not None
    maps = sorted((i for i in layout.items() if i.__class__.__name__ == "QgsLayoutItemMap"), key=lambda m: -m.rect().width())
    assert [m.layers() for m in maps] == [[classes, raster], [project.mapLayer(classes.customProperty("semiseg/confidence"))]]
    assert "Wrote" in dock.map.message.text()

    # Processing's Export map does the same for any class raster, with the engine's areas
    result = processing.run("semiseg:exportmap", {
        "CLASSES": classes.source(), "SOURCE": raster, "TITLE": "Batch", "OUTPUT": str(tmp_path / "batch.pdf")})
    assert Path(result["OUTPUT"]).read_bytes().startswith(b"%PDF") and Path(result["PNG"]).is_file()
    batch = project.layoutManager().layoutByName("Batch")
    (table,) = [f for f in batch.multiFrames() if f.__class__.__name__ == "QgsLayoutItemTextTable"]
    assert [row[1] for row in table.contents()] == hectares
    with pytest.raises(Exception, match="not a SemiSeg class raster"):
        processing.run("semiseg:exportmap", {"CLASSES": raster, "OUTPUT": str(tmp_path / "not.pdf")})
    assert not (tmp_path / "not.pdf").exists()


def _features(gpkg: Path) -> int:
    from osgeo import ogr
    ds = ogr.Open(str(gpkg))
    return sum(ds.GetLayer(i).GetFeatureCount() for i in range(ds.GetLayerCount()))


def test_label_where_suggested_then_train_again_refreshes_the_visible_area_then_the_whole_map(labelled, tmp_path, project, monkeypatch):
    dock, raster, scribbles = labelled
    state = run_to_end(dock.start_training(tmp_path / "job"))
    assert state.status == "completed", state.error_text()
    QCoreApplication.processEvents()
    group = project.layerTreeRoot().findGroup("SemiSeg job")
    suggestions = group.findLayers()[0].layer()
    assert suggestions.name() == "scene suggestions" and suggestions.crs() == raster.crs()
    assert 0 < suggestions.featureCount() <= 20 and suggestions.labelsEnabled()  # numbered
    # "Next suggestion" zooms to rank 1, 2, ... and after the last to rank 1 again (96 px hold one
    # or two: their centres lie 96 px apart): each region shown whole, the view in the raster
    ranks = sorted(f["rank"] for f in suggestions.getFeatures())
    assert ranks == list(range(1, len(ranks) + 1))
    for rank in ranks + [1]:
        assert dock.next_suggestion() == rank
        feature = next(f for f in suggestions.getFeatures() if f["rank"] == rank)
        assert dock.canvas.extent().contains(feature.geometry().boundingBox())
        assert dock.canvas.extent().width() < raster.extent().width() * 2
        assert dock.map.suggestion.text().startswith(f"{rank} of {suggestions.featureCount()}: ")
        assert dock.map.highlight.asGeometry().boundingBox() == feature.geometry().boundingBox()  # outlined
        assert suggestions.selectedFeatureIds() == []  # not painted over

    # label there, and Train again: the last model continued with the new labels, a short schedule
    centre = feature.geometry().centroid().asPoint()
    scribbles.startEditing()
    dock.labels.active_class.setCurrentIndex(0 if centre.x() < raster.extent().center().x() else 1)
    line = QgsGeometry.fromPolylineXY([QgsPointXY(centre.x() - 4, centre.y()), QgsPointXY(centre.x() + 4, centre.y())])
    assert scribbles.addFeature(QgsVectorLayerUtils.createFeature(scribbles, line, {}, scribbles.createExpressionContext()))
    assert scribbles.commitChanges()
    monkeypatch.setattr(job_module, "RETRAIN_STEPS", 2)
    task = dock.train_again(tmp_path / "again")
    assert task is not None, dock.train_notice.text()
    spec = json.loads((tmp_path / "again" / "job.json").read_text())
    assert spec["model"] == {"init_from": str(tmp_path / "job" / "model")}
    assert spec["train"]["steps"] == 2 and spec["predict"] == []
    assert (spec["train"]["tile_size"], spec["train"]["batch_size"]) == (64, 2)  # the user's, smaller than the quick schedule's
    assert _features(tmp_path / "again" / "labels.gpkg") == _features(tmp_path / "job" / "labels.gpkg") + 1
    dock.canvas.setExtent(QgsRectangle(*to_map(20.4, 70.2), *to_map(60.7, 10.5)))  # a part of the raster in view
    view = QgsRectangle(dock.canvas.extent())
    started = []
    dock.controller.started.connect(lambda t: started.append(t))
    assert run_to_end(task).status == "completed"
    wait(lambda: len(started) == 2 and not dock.controller.busy())  # the visible area's map, then the whole one
    visible, whole = (read_state(Path(t.job_dir)) for t in started)
    assert "--bounds" in started[0].args and "--bounds" not in started[1].args
    assert visible.status == whole.status == "completed"
    area_map = QgsRasterLayer(str(Path(started[0].job_dir) / "scene_classes.tif"))
    assert view.intersect(raster.extent()).contains(area_map.extent().buffered(-PIXEL)) and area_map.extent() != raster.extent()
    groups = [g.name() for g in project.layerTreeRoot().findGroups()]
    assert f"SemiSeg prediction {Path(started[1].job_dir).name}" in groups  # the whole raster's map, ...
    assert f"SemiSeg prediction {Path(started[0].job_dir).name}" not in groups  # ... which replaced the quick look
    assert dock.predict.model_dir.filePath() == str(tmp_path / "again" / "model")


def test_train_again_without_an_earlier_model_of_the_raster_says_so(labelled, tmp_path):
    dock, _, _ = labelled
    assert dock.train_again(tmp_path / "again") is None
    assert "No earlier training of this raster" in dock.train_notice.text() and not (tmp_path / "again").exists()


def test_processing_train_then_predict(labelled, tmp_path):
    _, raster, scribbles = labelled
    trained = processing.run("semiseg:train", {
        "RASTER": raster, "LABELS": [scribbles], "CLASSES": "water:#1f78b4, land:#d9c89e",
        "STEPS": STEPS, "TILE_SIZE": 64, "BATCH_SIZE": 2, "DEVICE": 1, "JOB_DIR": str(tmp_path / "ptrain")})
    assert Path(trained["MODEL"], "model.json").is_file()
    assert QgsRasterLayer(trained["CLASSES_RASTER"]).crs() == raster.crs()
    spec = json.loads((tmp_path / "ptrain" / "job.json").read_text())
    assert [c["name"] for c in spec["classes"]] == ["water", "land"]

    predicted = processing.run("semiseg:predict", {
        "MODEL": trained["MODEL"], "RASTER": raster, "DEVICE": 1, "OUTPUT_DIR": str(tmp_path / "pred")})
    assert read_state(tmp_path / "pred").status == "completed"  # followed through its events
    for key in ("CLASSES_RASTER", "CONFIDENCE_RASTER"):
        layer = QgsRasterLayer(predicted[key])
        assert layer.isValid() and layer.extent() == raster.extent()

    # Loaded into the project (as the Processing dialog does), the outputs are grouped like the dock's.
    processing.runAndLoadResults("semiseg:predict", {
        "MODEL": trained["MODEL"], "RASTER": raster, "DEVICE": 1, "POLYGONS": True, "OUTPUT_DIR": str(tmp_path / "loaded")})
    root = QgsProject.instance().layerTreeRoot()
    group = root.findGroup("SemiSeg prediction loaded")
    assert group is not None and root.children().index(group) < root.children().index(root.findLayer(raster.id()))
    assert [(n.layer().name(), n.itemVisibilityChecked()) for n in group.findLayers()] == [
        ("scene suggestions", True), ("scene polygons", True), ("scene classes", True), ("scene confidence", False)]
    outputs = ("scene suggestions", "scene polygons", "scene classes", "scene confidence")
    assert not [n for n in root.children() if hasattr(n, "layer") and n.layer().name() in outputs]  # none left at the top

    # An extent (here reaching past the raster's left edge) predicts the covering pixels only.
    (x0, y0), (x1, y1) = to_map(-5, 40.5), to_map(30.2, 12.9)
    predicted = processing.run("semiseg:predict", {
        "MODEL": trained["MODEL"], "RASTER": raster, "EXTENT": f"{x0},{x1},{y0},{y1} [EPSG:32633]", "POLYGONS": True,
        "DEVICE": 1, "OUTPUT_DIR": str(tmp_path / "pred_extent")})
    layer = QgsRasterLayer(predicted["CLASSES_RASTER"])
    assert layer.extent() == QgsRectangle(*to_map(0, 41), *to_map(31, 12))
    polygons = QgsVectorLayer(predicted["POLYGONS_LAYER"])
    assert polygons.isValid() and polygons.featureCount() > 0 and layer.extent().contains(polygons.extent())

    # Train again from that model, with the class polygons
    again = processing.run("semiseg:train", {
        "RASTER": raster, "LABELS": [scribbles], "CLASSES": "water:#1f78b4, land:#d9c89e", "STEPS": 1,
        "TILE_SIZE": 64, "BATCH_SIZE": 2, "DEVICE": 1, "INIT_MODEL": trained["MODEL"], "POLYGONS": True,
        "JOB_DIR": str(tmp_path / "again")})
    assert json.loads((tmp_path / "again" / "job.json").read_text())["model"] == {"init_from": trained["MODEL"]}
    assert QgsVectorLayer(again["POLYGONS_LAYER"]).featureCount() > 0


def test_processing_train_exports_the_labels_before_its_worker_thread_starts(labelled, tmp_path, project):
    """prepareAlgorithm runs on the GUI thread: the export (unsaved edits included) cannot race the user's editing."""
    from osgeo import ogr
    _, raster, scribbles = labelled
    scribbles.startEditing()
    draw_line(scribbles, [(10, 60), (30, 62)])  # drawn, not saved
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("semiseg:train")
    context = QgsProcessingContext()
    context.setProject(project)
    assert algorithm.prepare({"RASTER": [raster], "LABELS": [scribbles], "CLASSES": "water, land",
                              "JOB_DIR": str(tmp_path / "prepared")}, context, QgsProcessingFeedback())
    assert (tmp_path / "prepared" / "job.json").is_file()  # written before processAlgorithm
    assert ogr.Open(str(tmp_path / "prepared" / "labels.gpkg")).GetLayer(0).GetFeatureCount() == 11
    scribbles.rollBack()


def test_processing_train_refuses_what_the_engine_would_refuse_later_before_a_job_is_written(labelled, tmp_path):
    """As the dock does: a tile off the 32-px grid, an unlabeled raster of another band count."""
    from osgeo import gdal
    _, raster, scribbles = labelled
    gdal.GetDriverByName("GTiff").Create(str(tmp_path / "seismic.tif"), 32, 32, 1, gdal.GDT_Float32).FlushCache()
    one_band = QgsRasterLayer(str(tmp_path / "seismic.tif"), "seismic")
    base = {"RASTER": raster, "LABELS": [scribbles], "CLASSES": "water, land", "DEVICE": 1}
    for extra, message in (({"TILE_SIZE": 100}, "Tile size 100 px is not a multiple of 32"),
                           ({"UNLABELED": [one_band]}, "The unlabeled raster seismic.tif has 1 band(s)")):
        job_dir = tmp_path / f"refused{len(extra)}{sorted(extra)[0]}"
        with pytest.raises(Exception, match=re.escape(message)):
            processing.run("semiseg:train", {**base, **extra, "JOB_DIR": str(job_dir)})
        assert not (job_dir / "job.json").exists()


def test_processing_trains_from_two_rasters_paired_with_their_label_layers(labelled, tmp_path, project):
    dock, raster, scribbles = labelled
    second, second_scribbles = label_second_raster(dock, project, tmp_path)
    trained = processing.run("semiseg:train", {
        "RASTER": [raster, second], "LABELS": [scribbles, second_scribbles],
        "CLASSES": "water:#1f78b4, land:#d9c89e", "STEPS": 2, "TILE_SIZE": 32, "BATCH_SIZE": 2, "DEVICE": 1,
        "JOB_DIR": str(tmp_path / "ptrain2")})
    assert read_state(tmp_path / "ptrain2").status == "completed"
    assert Path(trained["MODEL"], "model.json").is_file()
    spec = json.loads((tmp_path / "ptrain2" / "job.json").read_text())
    assert [(e["raster"], e["labels"]) for e in spec["labeled"]] == [
        (raster.source(), "labels.gpkg"), (second.source(), "labels_2.gpkg")]
    from osgeo import ogr
    sources = [ogr.Open(str(tmp_path / "ptrain2" / name)) for name in ("labels.gpkg", "labels_2.gpkg")]
    counts = [source.GetLayer(0).GetFeatureCount() for source in sources]  # the sources outlive their layers
    assert counts == [10, 6]  # each raster got its own label layer, by order
    assert QgsRasterLayer(trained["CLASSES_RASTER"]).extent() == raster.extent()


def _offered(algorithm_class) -> list:
    algorithm = algorithm_class()
    algorithm.initAlgorithm()
    return algorithm.parameterDefinition("METHOD").options()


def test_processing_offers_the_engines_one_domain_methods_as_it_last_listed_them(engine_python, monkeypatch):
    """The engine's registry is the one list of methods: Processing takes it from the engine's last
    answer (saved), so a method added to the engine is offered without a change to the plugin."""
    import qgis.utils
    from qgis.core import QgsSettings
    from semiseg_qgis.jobs import job
    from semiseg_qgis.dock import method_form
    from semiseg_qgis.processing.train_algorithm import TrainAlgorithm

    answer = json.loads(engine.run(engine.command(engine_python, "methods", "--json")).stdout)
    one_domain = [name for name, info in answer["methods"].items() if not info["needs_domains"]]
    assert job.DEFAULT_METHOD == method_form.FALLBACK_METHOD == answer["default"] == one_domain[0]
    assert job.QUICK_METHOD in one_domain and not answer["methods"][job.QUICK_METHOD]["trains_network"]
    assert len(one_domain) > 3 and "usss" not in one_domain  # usss needs several domains

    monkeypatch.setattr(method_form, "_cache", {})
    QgsSettings().remove("semiseg/methods")
    monkeypatch.setattr(qgis.utils, "iface", object())  # the desktop: starting QGIS never runs the engine
    ran = []
    real_run = engine.run
    monkeypatch.setattr(engine, "run", lambda *a, **k: ran.append(a) or real_run(*a, **k))
    assert _offered(TrainAlgorithm) == [answer["default"]] and not ran

    method_form.ask_engine(engine_python)  # what the dock does as it opens
    assert _offered(TrainAlgorithm) == one_domain and len(ran) == 1

    monkeypatch.setattr(method_form, "_cache", {})  # the next QGIS session, before the dock asks again
    assert _offered(TrainAlgorithm) == one_domain and len(ran) == 1

    QgsSettings().remove("semiseg/methods")
    monkeypatch.setattr(method_form, "_cache", {})
    monkeypatch.setattr(qgis.utils, "iface", None)  # qgis_process: no dock will ask, so Processing does
    assert _offered(TrainAlgorithm) == one_domain and len(ran) == 2


def test_the_engine_gets_none_of_qgis_python_and_gdal_settings(monkeypatch):
    """QGIS sets these for its own Python and GDAL; in the engine's venv they would load the wrong ones."""
    monkeypatch.setenv("PYTHONPATH", "/usr/share/qgis/python")
    monkeypatch.setenv("GDAL_DATA", "/usr/share/gdal")
    monkeypatch.setenv("PROJ_LIB", "/usr/share/proj")
    env = engine.environment()
    assert not {"PYTHONPATH", "GDAL_DATA", "PROJ_LIB"} & set(env)
    assert env["PYTHONUNBUFFERED"] == "1" and env["PATH"] == os.environ["PATH"]


def test_the_dock_shows_the_engines_verdict_as_it_opens(project, engine_python):
    dock = SemiSegDock()  # the engine Python comes from the environment (SEMISEG_ENGINE_PYTHON in `make test`)
    try:
        dock.engine.python_edit.setFilePath(engine_python)
        wait(lambda: "ready" in dock.engine.title() or "not usable" in dock.engine.title(), 120)
        title = dock.engine.title()
        assert title == f"Engine {paths.plugin_version()} ready · CPU, {os.cpu_count()} threads (no GPU)" or "GPU" in title, title
        assert "torch:" in dock.engine.toolTip()  # the details behind the verdict
    finally:
        dock.dispose()


def test_the_verdict_says_what_to_do_when_the_engine_is_not_ready():
    report = {"semiseg": paths.plugin_version(), "missing": [], "cuda_available": False, "cpu_threads": 2}
    assert engine_setup.verdict(report, paths.plugin_version()).endswith("ready · CPU, 2 threads (no GPU)")
    assert engine_setup.verdict({**report, "semiseg": "0.0.1"}, paths.plugin_version()).startswith(
        f"Engine 0.0.1 found, this plugin needs {paths.plugin_version()}")
    assert engine_setup.verdict({**report, "missing": ["torch"]}) == "Engine %s lacks torch: press \"Set up engine\"." % paths.plugin_version()


def test_the_dock_takes_the_engine_python_from_the_environment(project, monkeypatch, engine_python):
    from semiseg_qgis.common import settings
    configured = settings.engine_python()
    settings.set_engine_python("")
    monkeypatch.setenv("SEMISEG_ENGINE_PYTHON", engine_python)
    try:
        dock = SemiSegDock()
        assert dock.engine.python_edit.filePath() == engine_python
        dock.dispose()
    finally:
        settings.set_engine_python(configured)


def test_an_offline_set_up_says_what_pip_missed_and_its_half_built_venv_is_never_the_engine(tmp_path, monkeypatch):
    from semiseg_qgis.common import settings
    (tmp_path / "wheels").mkdir()  # an empty wheel folder: pip finds nothing to build the engine with
    task = engine_setup.SetupEngineTask(venv=tmp_path / "venv", wheels=str(tmp_path / "wheels"))
    assert not task.run()
    assert "ERROR:" in task.error and "setuptools" in task.error, task.error  # the cause, not only "see the log"
    assert not (tmp_path / "venv" / settings.READY_MARKER).exists()
    monkeypatch.setattr(settings, "managed_venv", lambda: tmp_path / "venv")
    monkeypatch.delenv("SEMISEG_ENGINE_PYTHON", raising=False)
    configured = QgsSettings().value("semiseg/engine_python", "")
    settings.set_engine_python("")
    try:
        assert settings.venv_python(tmp_path / "venv").exists() and settings.engine_python() == ""
        # configured after an earlier set-up completed, then a re-setup failed: still not the engine
        settings.set_engine_python(str(settings.venv_python(tmp_path / "venv")))
        assert settings.engine_python() == ""
        (tmp_path / "venv" / settings.READY_MARKER).write_text("")
        assert settings.engine_python() == str(settings.venv_python(tmp_path / "venv"))
    finally:
        settings.set_engine_python(configured)


def test_a_raster_without_crs_and_its_labels_are_valid_for_the_engine(project, tmp_path, engine_python):
    """A seismic-like section: no CRS, no geotransform; labels in QGIS's coordinates for it."""
    raster = QgsRasterLayer(str(make_raster(tmp_path / "section.tif", georeferenced=False)), "section")
    project.addMapLayer(raster)
    dock = SemiSegDock()
    try:
        dock.labels.raster_combo.setLayer(raster)
        scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "labels.gpkg")) if "scribbles" in l.name())
        scribbles.startEditing()
        for class_id, (left, right) in enumerate(((4, 40), (56, 92))):
            dock.labels.active_class.setCurrentIndex(class_id)
            draw_line(scribbles, [(left, 20), (right, 60)], georeferenced=False)
        job_dir = dock.write_job(tmp_path / "job")
        result = engine.run(engine.command(engine_python, "validate", str(job_dir)))
        assert result.returncode == 0, result.stderr
    finally:
        dock.dispose()


F3 = Path(__file__).resolve().parents[3] / "shared" / "data" / "seismic-segy" / "f3_crop.sgy"


def test_open_segy_loads_sections_and_a_slice_ready_to_label(project, tmp_path, engine_python, monkeypatch):
    """The dock's "Open SEG-Y": the volume's geometry in the dialog, the lines chosen there cut by
    the engine, and layers that are styled, placed and ready for label layers."""
    from qgis.core import QgsCoordinateReferenceSystem

    from semiseg_qgis.segy import segy
    from semiseg_qgis.segy.segy_dialog import OpenSegyDialog

    if not F3.is_file():
        pytest.skip(f"real data {F3} is absent (see ../shared/data/README.md)")
    monkeypatch.setattr(settings_module(), "jobs_folder", lambda: str(tmp_path))
    canvas = QgsMapCanvas()
    canvas.resize(400, 400)
    dock = SemiSegDock(canvas=canvas)
    try:
        dock.engine.python_edit.setFilePath(engine_python)
        dialog = OpenSegyDialog(str(F3), segy.read_info(engine_python, str(F3)))
        assert "inlines 111–133 (step 1), crosslines 875–892" in dialog.geometry.text()
        dialog.inlines.setText("120, 125")
        dialog.times.setText("100")
        dialog.crs.setCrs(QgsCoordinateReferenceSystem("EPSG:23031"))
        state = run_to_end(dock.open_segy(str(F3), dialog.selection()))
        assert state.status == "completed", state.error_text()
        group = project.layerTreeRoot().findGroup("SEG-Y f3_crop")
        nodes = group.findLayers()
        assert [n.layer().name() for n in nodes] == ["f3_crop_inline_120", "f3_crop_inline_125", "f3_crop_slice_100"]
        assert [n.isVisible() for n in nodes] == [True, False, False]  # sections lie on one another
        section, _, map_view = (n.layer() for n in nodes)
        shader = section.renderer().shader().rasterShaderFunction()
        assert section.renderer().type() == "singlebandpseudocolor"
        assert shader.maximumValue() > 0 and shader.minimumValue() == -shader.maximumValue()  # symmetric about 0
        assert [item.color.name() for item in shader.colorRampItemList()] == ["#b2182b", "#ffffff", "#2166ac"]
        assert not section.crs().isValid() and (section.width(), section.height()) == (18, 75)
        assert (section.rasterUnitsPerPixelX(), section.rasterUnitsPerPixelY()) == (1.0, 1.0)  # traces, samples
        assert map_view.crs().authid() == "EPSG:23031" and map_view.extent().contains(620400.0, 6074500.0)
        assert dock.labels.raster_combo.currentLayer() == section  # ready to label ...
        assert "traces and samples" in dock.labels.crs_note.text() and not dock.labels.crs_note.isHidden()
        layers = dock.new_label_layers(str(tmp_path / "section_labels.gpkg"))  # ... and labelled like any raster
        assert layers and all(l.isValid() for l in layers)
    finally:
        dock.dispose()


def test_open_segy_on_a_file_that_is_not_segy_is_one_line_in_the_dock(project, tmp_path, engine_python):
    junk = tmp_path / "notes.sgy"
    junk.write_text("not a seismic volume\n" * 300)
    dock = SemiSegDock()
    try:
        dock.engine.python_edit.setFilePath(engine_python)
        assert dock.open_segy(str(junk)) is None  # refused before any dialog or task
        line = dock.labels.notice.text()
        assert f"{junk}: not a readable SEG-Y file" in line and line.count("\n") == 0, line
    finally:
        dock.dispose()


def settings_module():
    from semiseg_qgis.common import settings

    return settings


def test_processing_open_segy_cuts_and_loads_the_lines_asked_for(project, tmp_path, engine_python):
    if not F3.is_file():
        pytest.skip(f"real data {F3} is absent (see ../shared/data/README.md)")
    result = processing.runAndLoadResults("semiseg:opensegy", {
        "VOLUME": str(F3), "INLINES": "every 10", "CROSSLINES": "880", "TIME_SLICES": "", "CRS": None,
        "OUTPUT_DIR": str(tmp_path / "sections")})
    assert [Path(p).name for p in result["LAYERS"]] == ["f3_crop_inline_111.tif", "f3_crop_inline_121.tif",
                                                         "f3_crop_inline_131.tif", "f3_crop_crossline_880.tif"]
    loaded = [l for l in project.mapLayers().values() if l.source() in result["LAYERS"]]
    assert len(loaded) == 4 and all(l.renderer().type() == "singlebandpseudocolor" for l in loaded)
    with pytest.raises(Exception, match="inline 5 is not in the volume"):
        processing.run("semiseg:opensegy", {"VOLUME": str(F3), "INLINES": "5", "OUTPUT_DIR": str(tmp_path / "bad")})
    assert not any((tmp_path / "bad").glob("*.tif"))


def test_a_labelled_section_trains_and_predicts_its_whole_volume_from_the_dock(project, tmp_path, engine_python, monkeypatch):
    """Scribbles on a section opened from SEG-Y, Train, then "the whole SEG-Y volume": class and
    confidence SEG-Y files, and the section's map added to the project like any prediction."""
    from semiseg_qgis.segy.segy_dialog import SegySelection

    if not F3.is_file():
        pytest.skip(f"real data {F3} is absent (see ../shared/data/README.md)")
    monkeypatch.setattr(settings_module(), "jobs_folder", lambda: str(tmp_path))
    dock = SemiSegDock()
    try:
        dock.engine.python_edit.setFilePath(engine_python)
        assert run_to_end(dock.open_segy(str(F3), SegySelection(inlines=[120]))).status == "completed"
        section = dock.labels.raster_combo.currentLayer()
        dock.labels.class_table.set_classes([class_list.SegClass("shallow", "#1b9e77"), class_list.SegClass("deep", "#d95f02")])
        scribbles = next(l for l in dock.new_label_layers(str(tmp_path / "labels.gpkg")) if "scribbles" in l.name())
        scribbles.startEditing()
        for class_id, rows in enumerate(((8, 20), (50, 64))):
            dock.labels.active_class.setCurrentIndex(class_id)
            for row in rows:
                draw_line(scribbles, [(1, row), (16, row)], georeferenced=False)
        assert scribbles.commitChanges()
        dock.options.steps.setValue(STEPS)
        dock.options.tile_size.setValue(32)
        dock.options.batch_size.setValue(2)
        dock.options.device.setCurrentText("cpu")
        state = run_to_end(dock.start_training(tmp_path / "job"))
        assert state.status == "completed", state.error_text()

        dock.predict.predict_raster.setLayer(section)
        assert not dock.predict.whole_volume.isHidden()  # offered for a section cut from a volume only
        dock.predict.whole_volume.setChecked(True)
        assert dock.predict.axis.isEnabled() and not dock.predict.axis.isHidden()
        dock.predict.axis.setCurrentIndex(dock.predict.axis.findData("both"))
        assert dock.predict.chosen(project)[3] == ["--inline", "120", "--axis", "both"]  # both axes, averaged
        dock.predict.axis.setCurrentIndex(dock.predict.axis.findData("inline"))
        state = run_to_end(dock.start_prediction(tmp_path / "volume"))
        assert state.status == "completed", state.error_text()
        assert (tmp_path / "volume" / "f3_crop_classes.sgy").is_file() and (tmp_path / "volume" / "f3_crop_confidence.sgy").is_file()
        group = project.layerTreeRoot().findGroup("SemiSeg prediction volume")
        names = [n.layer().name() for n in group.findLayers()]
        assert names == ["f3_crop_inline_120 classes", "f3_crop_inline_120 confidence"], names
        classes = group.findLayers()[0].layer()
        assert classes.renderer().type() == "paletted" and classes.extent() == section.extent()
        assert dock.runs.error_label.isHidden(), dock.runs.error_label.text()  # a success, not "no classes raster" (issue 41, item 2)
        said = dock.predict.notice.text()
        assert "f3_crop_classes.sgy and f3_crop_confidence.sgy" in said and str(tmp_path / "volume") in said, said
    finally:
        dock.dispose()
