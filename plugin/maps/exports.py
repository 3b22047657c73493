"""What the dock's "Map and export" section exports: the print-ready map and the model as ONNX.

The map is a QGIS print layout (map_layout), kept in the project for the analyst to edit and
written as PDF and PNG; the ONNX file is written by the engine (`semiseg export --onnx`) in a
task, so a large network does not block the desktop.
"""
import tempfile
from pathlib import Path

from qgis.PyQt.QtWidgets import QFileDialog
from qgis.core import QgsApplication

from ..engine_process import engine
from ..engine_process.task import EngineTask
from . import map_layout


class Exports:
    def __init__(self, dock):
        self._dock = dock  # its project and sections (engine, map, predict, runs)
        self.onnx_task = None  # a running `semiseg export --onnx` (kept referenced while it runs)
        self.disposed = False

    def export_map(self, pdf: Path = None) -> list:
        """The picked class map as a print layout (kept in the project) in `pdf` and a PNG beside it."""
        d = self._dock
        try:
            content = d.map.content(d.project)
            if pdf is None:
                start = str(Path(content.classes.source()).with_suffix(".pdf"))
                chosen = QFileDialog.getSaveFileName(d, "Export map", start, "PDF (*.pdf)")[0]
                if not chosen:
                    return []
                pdf = Path(chosen)
            pdf = Path(pdf).with_suffix(".pdf")
            layout = map_layout.build_layout(d.project, content)
            written = map_layout.export_layout(layout, pdf, pdf.with_suffix(".png"))
        except (ValueError, OSError) as e:
            d.runs.show_error(str(e))
            return []
        d.map.say(f"Wrote {written[0]} and {written[1].name}; the layout \"{layout.name()}\" is in the "
                  "project's layouts (Project ▸ Layouts) to edit.")
        return written

    def export_onnx(self, out: Path = None):
        """Export Predict's model folder as an .onnx (`semiseg export --onnx`) in a task."""
        d = self._dock
        model = d.predict.model_dir.filePath()
        if not model:
            d.runs.show_error("Pick the model folder to export in Predict (a job's model folder).")
            return None
        if out is None:
            start = str(Path(model).parent / f"{Path(model).parent.name}.onnx")
            chosen = QFileDialog.getSaveFileName(d, "Export ONNX", start, "ONNX (*.onnx)")[0]
            if not chosen:
                return None
            out = Path(chosen)
        out = Path(out)
        try:
            args = engine.command(d.engine.python(), "export", model, "--onnx", str(out))
        except engine.EngineError as e:
            d.runs.show_error(str(e))
            return None
        console = Path(tempfile.gettempdir()) / f"semiseg-export-{out.stem}.txt"
        self.onnx_task = EngineTask(f"SemiSeg: export {out.name}", args, None, console, predict=True)
        self.onnx_task.ended.connect(lambda state: self._onnx_ended(state, out))
        d.map.export_onnx_button.setEnabled(False)
        QgsApplication.taskManager().addTask(self.onnx_task)
        return self.onnx_task

    def _onnx_ended(self, state, out: Path) -> None:
        self.onnx_task = None
        if self.disposed:
            return
        d = self._dock
        d.map.export_onnx_button.setEnabled(True)
        if state.status == "completed":
            d.map.say(f"Wrote {out}: it runs in Deepness, onnxruntime and `semiseg predict`.")
        elif state.status != "cancelled":
            d.runs.show_error(state.error_text() or f"The engine could not export {out}.")
