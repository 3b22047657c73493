"""Issue 41, items 3, 10 and 14 in the real PyQGIS: the ONNX export says what it leaves out before
writing and refuses a forest first; the dock scrolls sideways where it does not fit; every
Advanced parameter says what it does, and those to try first are on top."""
import json
from pathlib import Path

from qgis.PyQt.QtWidgets import QLabel

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
