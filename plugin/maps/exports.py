"""What the dock's "Map and export" section exports: the print-ready map and the model as ONNX.

The map is a QGIS print layout (map_layout), kept in the project for the analyst to edit and
written as PDF and PNG; the ONNX file is written by the engine (`semiseg export --onnx`) in a
task, so a large network does not block the desktop.

An ONNX graph holds a network, not a pixel forest's trees: before any file is asked for, the
model's model.json says what the export would be (`onnx_contents`). A forest alone (a Quick map)
or a network that reads a forest's map is refused under the button; a blend (the default
method's gate) is offered as its network alone, saying what that map scores on the validation
blocks against the blend's, and written only once the analyst agrees (issue 41, item 3).
"""
import json
import tempfile
from pathlib import Path

from qgis.PyQt.QtWidgets import QFileDialog, QMessageBox
from qgis.core import QgsApplication

from ..engine_process import engine
from ..engine_process.task import EngineTask
from ..jobs.jobdir import JobDir, MODEL_FILE
from . import map_layout

FOREST_ARCH = "pixel_forest"  # model.json `arch` of a forest alone (the engine's models/forest.py)
NETWORK_ALONE = "Export the network alone"  # the confirm dialog's yes


def onnx_contents(model_dir) -> tuple:
    """(refusal, warning) of an ONNX export of the package `model_dir`, each "" when none: read
    from its model.json (and the job's events of an older package), never from the engine."""
    folder = Path(model_dir)
    try:
        card = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        if not isinstance(card, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        return (f"{folder} is not a model folder ({MODEL_FILE} unreadable: {e}); pick a job's model folder "
                "in Predict."), ""
    if card.get("arch") == FOREST_ARCH:
        return ("This is a Quick map model: a pixel forest alone, no network. A forest's trees have no ONNX "
                "form, so there is nothing to export; Train the deep model and export its model folder."), ""
    if card.get("forest_context"):
        return ("This model's network reads a pixel forest's map as input, and a forest's trees have no ONNX "
                "form: it cannot be exported. Train without forest_context to export."), ""
    weight = card.get("forest_blend") or 0
    if not weight:
        return "", ""
    metrics = card.get("metrics") or {}
    blend, alone = metrics.get("miou"), (metrics.get("network_alone") or {}).get("miou")
    if alone is None:
        alone = _gate_network_score(folder.parent)
    said = (f"This model blends its network with a pixel forest ({weight:g} of the weight on the forest). "
            "A forest's trees have no ONNX form, so the .onnx file leaves the forest out: it holds the "
            "network alone, and its map differs from this model's.")
    if alone is not None and blend is not None:
        said += (f" On the validation blocks the ONNX map (the network alone) scores mIoU {alone:.3f}, "
                 f"this model {blend:.3f}.")
    elif blend is not None:
        said += (f" This model scores mIoU {blend:.3f} on the validation blocks; the package does not record "
                 "what the network alone scores, so how the ONNX map compares is not known.")
    else:
        said += " The job held no validation blocks back, so neither map's score is known."
    return "", said


def _gate_network_score(job_dir: Path):
    """The network's own validation mIoU as the gate of an older package's job reported it (its
    export event, weight 0), or None."""
    try:
        lines = JobDir(job_dir).events.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        scores = event.get("validation_miou") if isinstance(event, dict) else None
        if isinstance(scores, dict) and isinstance(scores.get("0.0", scores.get("0")), (int, float)):
            return scores.get("0.0", scores.get("0"))
    return None


def confirm_network_alone(parent, text: str) -> bool:
    """Ask before writing a blend's network alone: "Export the network alone" or Cancel."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Export ONNX", text, QMessageBox.StandardButton.Cancel, parent)
    export = box.addButton(NETWORK_ALONE, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is export


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

    def export_onnx(self, out: Path = None, network_alone: bool = False):
        """Export Predict's model folder as an .onnx (`semiseg export --onnx`) in a task; what the
        export would leave out is said first, under the button (`onnx_contents`), and a blend's
        network alone is written once the analyst agrees (or `network_alone` says so already)."""
        d = self._dock
        model = d.predict.model_dir.filePath()
        if not model:
            d.refuse(d.map.message, "Pick the model folder to export in Predict (a job's model folder).")
            return None
        refusal, warning = onnx_contents(model)
        if refusal:
            d.refuse(d.map.message, refusal)
            return None
        if warning:
            d.refuse(d.map.message, warning, error=False)
            if not network_alone and not confirm_network_alone(d, warning + "\n\nExport the network alone?"):
                d.map.say(warning + " Nothing was exported.")
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
            d.refuse(d.map.message, str(e))
            return None
        console = Path(tempfile.gettempdir()) / f"semiseg-export-{out.stem}.txt"
        self.onnx_task = EngineTask(f"SemiSeg: export {out.name}", args, None, console, predict=True)
        self.onnx_task.ended.connect(lambda state: self._onnx_ended(state, out, bool(warning)))
        d.map.export_onnx_button.setEnabled(False)
        QgsApplication.taskManager().addTask(self.onnx_task)
        return self.onnx_task

    def _onnx_ended(self, state, out: Path, network_alone: bool) -> None:
        self.onnx_task = None
        if self.disposed:
            return
        d = self._dock
        d.map.export_onnx_button.setEnabled(True)
        if state.status == "completed":
            left_out = " It holds the network alone, without the model's pixel forest." if network_alone else ""
            d.map.say(f"Wrote {out}: it runs in Deepness, onnxruntime and `semiseg predict`.{left_out}")
        elif state.status != "cancelled":
            d.refuse(d.map.message, state.error_text() or f"The engine could not export {out}.")
