"""Predicting with several GPUs, and a resumed prediction, as the dock and Processing offer them
(issue 40); in PyQGIS, without the engine: the command the plugin would run is what is checked."""
import pytest
from qgis.PyQt.QtCore import QCoreApplication
from qgis.core import QgsProcessingException, QgsProcessingParameterDefinition, QgsRasterLayer

import processing
from scenes import make_raster
from semiseg_qgis.engine_process import engine
from semiseg_qgis.jobs.events import JobState


@pytest.fixture()
def recorded(monkeypatch):
    """The `semiseg predict` commands asked for; none runs (the plugin then says the engine failed)."""
    asked = []

    def record(*args, **kwargs):
        asked.append((args, kwargs))
        raise engine.EngineError("recorded, not run")

    monkeypatch.setattr(engine, "predict_command", record)
    return asked


def _ready_to_predict(dock, project, tmp_path):
    raster = QgsRasterLayer(str(make_raster(tmp_path / "scene.tif")), "scene")
    project.addMapLayer(raster)
    dock.predict.model_dir.setFilePath(str(tmp_path))
    dock.predict.predict_raster.setLayer(raster)
    return raster


def test_predict_offers_the_gpus_the_engine_reports_and_runs_one_process_on_each(dock, project, tmp_path, recorded):
    _ready_to_predict(dock, project, tmp_path)
    dock.predict.setCollapsed(False)
    dock.show()
    dock.engine.reportReceived.emit({"gpus": ["NVIDIA H100", "NVIDIA H100"], "device": "cuda"})
    QCoreApplication.processEvents()
    assert dock.predict.gpus.isVisible() and dock.predict.gpus.value() == 2 and dock.predict.gpus.maximum() == 2
    dock.start_prediction(tmp_path / "out")
    args, _ = recorded[-1]
    assert args[-1] == 2  # devices

    dock.engine.reportReceived.emit({"gpus": [], "device": "cpu"})  # another engine, on a machine without a GPU
    QCoreApplication.processEvents()
    assert not dock.predict.gpus.isVisible()
    dock.start_prediction(tmp_path / "out2")
    assert recorded[-1][0][-1] == 1


def test_the_command_asks_the_engine_for_several_processes_only_when_there_are(tmp_path):
    python = str(tmp_path / "python")
    (tmp_path / "python").write_text("")
    one = engine.predict_command(python, "model", "scene.tif", tmp_path, "auto")
    two = engine.predict_command(python, "model", "scene.tif", tmp_path, "cuda", devices=2)
    assert "--devices" not in one
    assert two[two.index("--devices") + 1] == "2" and two[two.index("--device") + 1] == "cuda"


def test_a_resumed_prediction_reads_as_resumed_with_the_blocks_it_kept():
    state = JobState(unit="window")
    for event in ({"type": "start", "pid": 1}, {"type": "phase", "phase": "predict", "message": "predicting scene.tif"},
                  {"type": "phase", "phase": "resume", "message": "resuming scene.tif: 3 of 8 blocks were predicted before",
                   "blocks_done": 3, "blocks": 8},
                  {"type": "progress", "step": 40, "total": 100, "unit": "window"}):
        state.apply(event)
    assert state.summary() == "running · predict · resumed, 3 of 8 blocks kept · window 40/100"
    state.apply({"type": "done", "status": "completed", "exit_code": 0, "message": "predicted 1 raster(s)"})
    assert "resumed, 3 of 8 blocks kept" in state.summary()


def test_processing_predict_has_an_advanced_processes_parameter_passed_to_the_engine(project, tmp_path, recorded):
    from qgis.core import QgsApplication

    algorithm = QgsApplication.processingRegistry().createAlgorithmById("semiseg:predict")
    devices = algorithm.parameterDefinition("DEVICES")
    assert devices.defaultValue() == 1 and devices.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    raster = make_raster(tmp_path / "scene.tif")
    with pytest.raises(QgsProcessingException, match="recorded, not run"):
        processing.run("semiseg:predict", {"MODEL": str(tmp_path), "RASTER": str(raster), "DEVICE": 1, "DEVICES": 3,
                                           "OUTPUT_DIR": str(tmp_path / "pred")})
    assert recorded[-1][0][-1] == 3
