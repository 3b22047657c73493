"""Issue 41, items 3, 10 and 14 in the real PyQGIS: the ONNX export says what it leaves out before
writing and refuses a forest first; the dock scrolls sideways where it does not fit; every
Advanced parameter says what it does, and those to try first are on top."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QLabel, QMessageBox

from semiseg_qgis.dock.method_form import MethodCatalog

METHODS_ANSWER = json.loads((Path(__file__).parent / "engine_methods.json").read_text())


# ---- item 14: the Advanced parameters ------------------------------------------------------------
def test_every_advanced_parameter_says_what_it_does_and_the_key_ones_come_first(dock):
    dock.options.show_methods(MethodCatalog.from_answer(METHODS_ANSWER))
    form = dock.options.method_form
    for name, info in METHODS_ANSWER["methods"].items():
        dock.options.method.setCurrentIndex(dock.options.method.findData(name))
        properties = info["parameters"]["properties"]
        keys = [f.key for f in form.fields]
        first = [k for k in properties if properties[k].get("key")]
        assert first, f"{name}: no parameter marked to try first"
        assert keys[:len(first)] == first, name  # the ones to try first on top, in the engine's order
        assert sorted(keys) == sorted(properties), name
        for field in form.fields:
            for child in [field, *field.children]:
                text = child.widget.toolTip()
                description = (properties.get(child.key) or {}).get("description") or ""
                assert len(text.splitlines()[0]) > len(child.key) + 20, f"{name}.{child.key}: {text!r}"
                if child is field:
                    assert description and description in text, f"{name}.{child.key}"
                assert child.label.toolTip() == text
    dock.options.method.setCurrentIndex(dock.options.method.findData("mean_teacher"))
    keys = [f.key for f in form.fields]
    assert keys.index("alpha") < keys.index("decay") and keys.index("confidence") < keys.index("tps_sigma")
    assert "EMA decay" in form.field("decay").label.toolTip() and "slowly" in form.field("decay").label.toolTip()
    assert "warp" in form.field("tps_sigma").widget.toolTip() and "box" in form.field("cutmix").widget.toolTip()
    others = [w for w in form.findChildren(QLabel) if w.text().startswith("Other parameters")]
    assert len(others) == 1 and not others[0].isHidden()


# ---- item 3: what an ONNX export leaves out ------------------------------------------------------
def write_card(folder: Path, **fields) -> Path:
    """A model folder as the engine writes one (model.json and its weights file), fields changed."""
    card = {"class_names": ["water", "land"], "class_colors": ["#1f78b4", "#d9c89e"], "bands": [1, 2, 3],
            "mean": [0.0] * 3, "std": [1.0] * 3, "arch": "unet", "encoder": "resnet18", "in_channels": 3,
            "tile_size": 512, "method": {"name": "mean_teacher"}, "metrics": {}, "forest_blend": 0.0,
            "forest_context": False, **fields}
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps(card))
    (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.fixture()
def dialogs(monkeypatch):
    """Record every save-file dialog and confirm box the export opens; the box answers `choice`."""
    from semiseg_qgis.maps import exports

    seen = SimpleNamespace(files=[], boxes=[], choice=None)

    def save_file(*args, **kwargs):
        seen.files.append(args)
        return "", ""  # the analyst cancels the file dialog

    def run_box(box):
        seen.boxes.append((box.text(), sorted(b.text().replace("&", "") for b in box.buttons())))
        button = box.button(QMessageBox.StandardButton.Cancel) if seen.choice == "Cancel" else \
            next(b for b in box.buttons() if b.text() == seen.choice)
        button.click()
        return 0

    monkeypatch.setattr(exports.QFileDialog, "getSaveFileName", staticmethod(save_file))
    monkeypatch.setattr(QMessageBox, "exec", run_box)
    return seen


def test_a_quick_map_model_is_refused_before_any_file_dialog_next_to_the_button(dock, tmp_path, dialogs):
    model = write_card(tmp_path / "quick" / "model", arch="pixel_forest", method={"name": "pixel_forest"})
    dock.predict.model_dir.setFilePath(str(model))
    assert dock.export_onnx() is None
    assert dialogs.files == [] and dialogs.boxes == []  # refused first: no file name asked for
    notice = dock.map.message
    assert not notice.isHidden() and notice.is_error
    assert "Quick map" in notice.text() and "pixel forest" in notice.text() and "nothing to export" in notice.text()
    # right under the Export ONNX button, in the same section
    assert notice.parentWidget() is dock.map.export_onnx_button.parentWidget()


def test_a_network_reading_a_forest_is_refused_first_too(dock, tmp_path, dialogs):
    dock.predict.model_dir.setFilePath(str(write_card(tmp_path / "ctx" / "model", forest_context=True)))
    assert dock.export_onnx() is None
    assert dialogs.files == [] and dialogs.boxes == []
    assert "forest" in dock.map.message.text() and dock.map.message.is_error


def test_a_blend_says_the_forest_is_left_out_and_what_the_onnx_map_scores_before_asking_a_file(dock, tmp_path, dialogs):
    from semiseg_qgis.maps.exports import NETWORK_ALONE

    model = write_card(tmp_path / "job" / "model", forest_blend=0.75,
                       metrics={"miou": 0.688, "oa": 0.9, "network_alone": {"miou": 0.399, "oa": 0.7}})
    dock.predict.model_dir.setFilePath(str(model))
    dialogs.choice = "Cancel"
    assert dock.export_onnx() is None
    assert dialogs.files == []  # cancelled at the question: no file asked for, nothing written
    (text, buttons), = dialogs.boxes
    assert buttons == sorted(["Cancel", NETWORK_ALONE])
    for said in (text, dock.map.message.text()):
        assert "pixel forest" in said and "leaves the forest out" in said and "network alone" in said
        assert "0.75" in said and "mIoU 0.399" in said and "0.688" in said
    assert "Nothing was exported" in dock.map.message.text() and not dock.map.message.isHidden()

    dialogs.choice = NETWORK_ALONE  # agreed: only now the file name is asked for
    assert dock.export_onnx() is None  # (the file dialog is cancelled)
    assert len(dialogs.boxes) == 2 and len(dialogs.files) == 1


def test_a_blend_that_does_not_record_its_networks_score_says_so(dock, tmp_path, dialogs):
    dialogs.choice = "Cancel"
    old = write_card(tmp_path / "old" / "model", forest_blend=0.5, metrics={"miou": 0.61})
    dock.predict.model_dir.setFilePath(str(old))
    dock.export_onnx()
    assert "does not record what the network alone scores" in dialogs.boxes[-1][0] and "0.610" in dialogs.boxes[-1][0]
    # an older package whose job's gate reported each weight's score: the weight 0 is the network's
    (old.parent / "events.jsonl").write_text(json.dumps({"kind": "phase", "phase": "export", "forest_blend": 0.5,
                                                         "validation_miou": {"0.0": 0.42, "0.5": 0.61}}) + "\n")
    dock.export_onnx()
    assert "mIoU 0.420" in dialogs.boxes[-1][0] and dialogs.files == []


def test_a_network_alone_exports_without_a_question(dock, tmp_path, dialogs):
    dock.predict.model_dir.setFilePath(str(write_card(tmp_path / "net" / "model", metrics={"miou": 0.7})))
    assert dock.export_onnx() is None  # the file dialog is cancelled
    assert dialogs.boxes == [] and len(dialogs.files) == 1


# ---- item 10: the dock at QGIS's default dock width ----------------------------------------------
DEFAULT_DOCK_WIDTH = 300  # about what QGIS 3.22 gives a dock opened on the right (docs/images/dock_narrow.png)


def _reachable(dock, widget) -> tuple:
    """(shown at its full size, its right edge within what the scroll area can show)."""
    scroll = dock.scroll
    right = widget.mapTo(scroll.widget(), widget.rect().topRight()).x()
    bar = scroll.horizontalScrollBar()
    reach = scroll.viewport().width() + (bar.maximum() if bar.isVisible() else 0)  # a hidden bar scrolls nothing
    return widget.width() >= widget.sizeHint().width(), right < reach


def test_at_the_default_dock_width_every_button_is_whole_or_scrolled_to(dock):
    from qgis.PyQt.QtCore import QCoreApplication
    from qgis.PyQt.QtWidgets import QAbstractButton, QTableWidget

    dock.options.show_methods(MethodCatalog.from_answer(METHODS_ANSWER))
    for section in (dock.engine, dock.labels, dock.unlabeled, dock.options, dock.predict, dock.map, dock.runs):
        section.setCollapsed(False)
    dock.runs.error_label.setText("x")
    dock.resize(DEFAULT_DOCK_WIDTH, 700)
    dock.show()
    for _ in range(3):
        QCoreApplication.processEvents()
    scroll = dock.scroll
    assert scroll.horizontalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    buttons = [b for b in scroll.widget().findChildren(QAbstractButton) if b.isVisibleTo(scroll.widget())
               and not isinstance(b.parentWidget(), QTableWidget)]
    named = {b.text() for b in buttons}
    assert {"Train", "Quick map", "Train again", "Open log", "Add results", "Export ONNX…"} <= named, named
    cut = [b.text() or b.toolTip()[:30] for b in buttons if not all(_reachable(dock, b))]
    assert cut == [], cut
    assert scroll.horizontalScrollBar().maximum() > 0 and scroll.horizontalScrollBar().isVisible()  # 300 px: it scrolls
    table = dock.labels.class_table.table
    colour = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())].index("Color")
    header = table.horizontalHeader()
    assert header.sectionPosition(colour) + header.sectionSize(colour) <= table.viewport().width() + \
        table.horizontalScrollBar().maximum()
    dock.hide()
