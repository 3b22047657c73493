"""The engine's methods and a parameter form generated from their JSON schemas.

`<engine python> -m semiseg.cli methods --json` answers {"default": name, "methods": {name:
{"summary", "uses_unlabeled", "supports_domains", "needs_domains", "default_arch", "parameters": <JSON schema>}}}.
`ask_engine` asks once per engine Python (the answer is cached for the session and saved in the
settings); `known` gives, without running the engine, what it answered this session or when last
asked, which is how Processing lists the methods as QGIS starts; `MethodForm`
turns one method's schema into widgets (those it marks "key" first, each with its description
as the tooltip of widget and label) and gives back only the parameters that differ from
their defaults, which is what goes into job.json `method` beside `name`.
"""
import json
import math
import subprocess  # nosec B404  # only for subprocess.TimeoutExpired: the engine runs in engine.py
from dataclasses import dataclass

from qgis.PyQt.QtCore import QLocale, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit,
                                 QListWidget, QListWidgetItem, QWidget)
from qgis.gui import QgsDoubleSpinBox, QgsSpinBox

from ..common import settings
from ..engine_process import engine
from ..jobs.job import DEFAULT_METHOD
from . import wheel_guard

# Offered alone while no engine has answered (tests tie it to the engine's default).
FALLBACK_METHOD = DEFAULT_METHOD
_BIG = 1_000_000  # bound of a number the schema leaves open


@dataclass
class MethodCatalog:
    """The engine's answer; `note` says why it is only the fallback (engine missing or too old)."""
    default: str
    methods: dict  # name -> {"summary", "uses_unlabeled", "supports_domains", "needs_domains", "parameters", ...}
    note: str = ""

    @classmethod
    def fallback(cls, note: str) -> "MethodCatalog":
        return cls(FALLBACK_METHOD, {FALLBACK_METHOD: {
            "summary": "The engine's default method (its list is not known yet).", "supports_domains": False,
            "parameters": {"type": "object", "properties": {}}}}, note)

    @classmethod
    def from_answer(cls, answer: dict) -> "MethodCatalog":
        methods = answer.get("methods")
        if not isinstance(methods, dict) or answer.get("default") not in methods:
            raise ValueError("`semiseg methods --json` did not name its methods and default")
        return cls(answer["default"], methods)

    def one_domain_names(self) -> list:
        """`names()` without the methods that need several domains (which Processing cannot build)."""
        return [n for n in self.names() if not self.methods[n].get("needs_domains")]

    def names(self) -> list:
        """The default method first, then the others in the engine's order."""
        return [self.default] + [n for n in self.methods if n != self.default]


_cache = {}  # engine python -> MethodCatalog (engine answers only; failures are asked again)


def cached(python: str):
    return _cache.get(python)


def known(python: str) -> MethodCatalog:
    """The methods of the engine `python` as it answered this session or when it was last asked
    (saved in the settings), without running it; the fallback when it never answered."""
    if python in _cache:
        return _cache[python]
    try:
        return MethodCatalog.from_answer(json.loads(settings.saved_methods(python)))
    except (ValueError, AttributeError):  # never asked, or saved by a version that wrote otherwise
        return MethodCatalog.fallback(f"The engine has not listed its methods yet; only \"{FALLBACK_METHOD}\" "
                                      "is offered until it does (the SemiSeg dock asks it as it opens).")


def ask_engine(python: str, timeout_s: float = 60) -> MethodCatalog:
    """Run `semiseg methods --json` (any thread); the fallback catalog when that fails."""
    if python in _cache:
        return _cache[python]
    try:
        result = engine.run(engine.command(python, "methods", "--json"), timeout_s)
    except engine.EngineError as e:
        return MethodCatalog.fallback(f"{e} Only \"{FALLBACK_METHOD}\" is offered.")
    except (OSError, subprocess.TimeoutExpired) as e:
        return MethodCatalog.fallback(f"The engine did not answer ({e}); only \"{FALLBACK_METHOD}\" is offered.")
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        return MethodCatalog.fallback(f"The engine does not list its methods (too old? {last}); "
                                      f"only \"{FALLBACK_METHOD}\" is offered: update the engine.")
    try:
        catalog = MethodCatalog.from_answer(json.loads(result.stdout))
    except (ValueError, AttributeError) as e:
        return MethodCatalog.fallback(f"The engine's method list is unreadable ({e}); "
                                      f"only \"{FALLBACK_METHOD}\" is offered.")
    _cache[python] = catalog
    settings.save_methods(python, result.stdout)
    return catalog


# ---- the form ------------------------------------------------------------------------------------
def _resolve(schema: dict, root: dict) -> dict:
    """Follow a local "$ref" (pydantic puts nested models under "$defs")."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target.get(part, {})
        return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _nullable(schema: dict, root: dict) -> tuple:
    """(the non-null schema, whether null is allowed) for `anyOf: [X, {"type": "null"}]`."""
    options = schema.get("anyOf")
    if not options:
        return _resolve(schema, root), False
    others = [o for o in options if o.get("type") != "null"]
    if len(others) != 1:
        return {}, False  # a union the form does not know
    inner = {**_resolve(others[0], root), **{k: v for k, v in schema.items() if k != "anyOf"}}
    return inner, len(others) < len(options)


class _Number(QgsDoubleSpinBox):
    """A spin box without trailing zeros (30, 0.25, not 30.0000, 0.2500)."""

    def textFromValue(self, value: float) -> str:
        text = QLocale().toString(value, "f", self.decimals())
        point = QLocale().decimalPoint()
        return text.rstrip("0").rstrip(point) if point in text else text


class _Field:
    """One parameter: its widget, how to read it and its default."""

    def __init__(self, key: str, schema: dict, root: dict, class_names: list):
        self.key = key
        self.key_param = bool(schema.get("key"))  # one to try first (the engine's schema says so)
        inner, self.nullable = _nullable(schema, root)
        self.default = schema.get("default", inner.get("default"))
        self.kind = inner.get("type")
        self.children = []
        if self.kind == "object" and inner.get("properties"):
            self.widget = self._group(inner, root, class_names)
        elif "enum" in inner:
            self.kind = "enum"
            self.widget = QComboBox()
            self.widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.widget.setMinimumContentsLength(8)  # long choices must not widen the dock
            self.choices = list(inner["enum"]) + ([None] if self.nullable else [])
            for choice in self.choices:
                text = "off" if choice is None else str(choice)
                self.widget.addItem(text + (" (default)" if choice == self.default else ""))
            self.widget.setCurrentIndex(self.choices.index(self.default) if self.default in self.choices else 0)
        elif self.kind == "boolean":
            self.widget = QCheckBox()
            self.widget.setChecked(bool(self.default))
        elif self.kind in ("number", "integer"):
            self.widget = self._spin(inner)
        elif self.kind == "array" and inner.get("items", {}).get("type") == "string":
            self.kind = "names"
            self.widget = QListWidget()
            self.widget.setToolTip("Classes (by name) this parameter applies to.")
            self.set_class_names(class_names)
        else:
            self.kind = "text"  # a parameter the form does not know: JSON text
            self.widget = QLineEdit(json.dumps(self.default))
        tip = [f"{key}: {schema.get('description') or inner.get('description') or inner.get('title', key)}",
               "default: " + ("off" if self.default is None else json.dumps(self.default))]
        bounds = [f"{k} {inner[k]}" for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
                  if k in inner]
        if bounds:
            tip.append(", ".join(bounds))
        self.widget.setToolTip("\n".join(tip))
        self.label = QLabel(key)  # the job.json key, as docs/methods.md names it
        self.label.setToolTip(self.widget.toolTip())

    def _group(self, inner: dict, root: dict, class_names: list) -> QGroupBox:
        box = QGroupBox()
        box.setFlat(True)
        form = QFormLayout(box)
        form.setContentsMargins(6, 2, 0, 2)
        form.setVerticalSpacing(2)
        defaults = self.default if isinstance(self.default, dict) else {}
        for key, sub in inner["properties"].items():
            sub = dict(sub)
            if key in defaults:
                sub["default"] = defaults[key]
            child = _Field(key, sub, root, class_names)
            self.children.append(child)
            form.addRow(child.label, child.widget)
        return box

    def _spin(self, inner: dict):
        integer = self.kind == "integer"
        decimals = 0 if integer else 4
        eps = 1 if integer else 10 ** -decimals
        low = inner.get("minimum", inner.get("exclusiveMinimum", -_BIG - eps) + eps)
        high = inner.get("maximum", inner.get("exclusiveMaximum", _BIG + eps) - eps)
        default = self.default if self.default is not None else max(low, min(high, 1))
        if integer:
            step = 1
        else:
            step = 0.05 if high <= 1 else (0.1 if abs(default) < 10 else 1.0)
        if self.nullable:  # the value below the minimum reads "off" (or "auto" when that is the default)
            low -= step
        spin = QgsSpinBox() if integer else _Number()
        if not integer:
            spin.setDecimals(decimals)
        spin.setRange(int(low) if integer else low, int(high) if integer else high)
        spin.setSingleStep(step)
        if self.nullable:
            spin.setSpecialValueText("auto" if self.default is None else "off")
            self._null_value = spin.minimum()
        spin.setValue(spin.minimum() if self.default is None else default)
        spin.setClearValue(spin.value())  # the clear button puts the default back
        spin.setShowClearButton(True)
        return spin

    def set_class_names(self, names: list) -> None:
        if self.kind == "names":
            checked = set(self.value()) if self.widget.count() else set(self.default or [])
            self.widget.clear()
            for name in names:
                item = QListWidgetItem(name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)
                self.widget.addItem(item)
            rows = max(1, min(len(names), 4))
            self.widget.setFixedHeight(self.widget.sizeHintForRow(0) * rows + 2 * self.widget.frameWidth())
        for child in self.children:
            child.set_class_names(names)

    def value(self):
        if self.children:
            return {c.key: c.value() for c in self.children}
        if self.kind == "enum":
            return self.choices[self.widget.currentIndex()]
        if self.kind == "boolean":
            return self.widget.isChecked()
        if self.kind in ("number", "integer"):
            if self.nullable and self.widget.value() == self._null_value:
                return None
            return int(self.widget.value()) if self.kind == "integer" else self.widget.value()
        if self.kind == "names":
            return [self.widget.item(i).text() for i in range(self.widget.count())
                    if self.widget.item(i).checkState() == Qt.CheckState.Checked]
        try:
            return json.loads(self.widget.text())
        except ValueError:
            return self.widget.text()

    def changed(self):
        """What differs from the default: the value, the changed sub-keys of a group, or None."""
        if self.children:
            diff = {c.key: c.changed() for c in self.children if c.changed() is not _SAME}
            return diff if diff else _SAME
        value = self.value()
        if self.kind == "number" and value is not None and isinstance(self.default, (int, float)):
            same = math.isclose(value, self.default, abs_tol=0.5 * 10 ** -self.widget.decimals())
        elif self.kind == "names":
            same = sorted(value) == sorted(self.default or [])
        else:
            same = value == self.default
        return _SAME if same else value

    def widgets(self):
        yield self.widget
        for child in self.children:
            yield from child.widgets()

    def mark_changed(self) -> None:
        """Bold labels for the values that differ from their defaults (those go into the job)."""
        font = self.label.font()
        font.setBold(self.changed() is not _SAME)
        self.label.setFont(font)
        for child in self.children:
            child.mark_changed()


_SAME = object()


class MethodForm(QWidget):
    """The parameters of one method; `changed` is emitted whenever a value changes."""
    changed = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.changed.connect(self._mark_changed)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.fields = []
        self._class_names = []
        self.set_schema({})

    def set_schema(self, schema: dict) -> None:
        """Rebuild the widgets for a method's parameter schema (every value at its default)."""
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        # the parameters to try first on top (the engine marks them "key"), then the others, each
        # group in the engine's order
        properties = sorted((schema.get("properties") or {}).items(), key=lambda item: not item[1].get("key"))
        self.fields = [_Field(key, sub, schema, self._class_names) for key, sub in properties]
        self.others_label = None
        for f in self.fields:
            if f is not self.fields[0] and not f.key_param and self.others_label is None and self.fields[0].key_param:
                self.others_label = QLabel("Other parameters (their defaults suit most jobs):")
                self.layout_.addRow(self.others_label)
            self.layout_.addRow(f.label, f.widget)
            wheel_guard.guard(f.widget)  # rebuilt after the dock guarded its widgets
            for w in f.widgets():
                for signal in ("valueChanged", "currentIndexChanged", "toggled", "itemChanged", "textChanged"):
                    if hasattr(w, signal):
                        getattr(w, signal).connect(lambda *_: self.changed.emit())
                        break
        if not self.fields:
            self.layout_.addRow(QLabel("This method has no parameters."))

    def _mark_changed(self) -> None:
        for f in self.fields:
            f.mark_changed()

    def set_class_names(self, names: list) -> None:
        self._class_names = list(names)
        for f in self.fields:
            f.set_class_names(self._class_names)

    def field(self, key: str) -> _Field:
        """The field of a parameter; "decoders.vat" names one inside a group."""
        fields = self.fields
        for part in key.split("."):
            found = next(f for f in fields if f.key == part)
            fields = found.children
        return found

    def values(self) -> dict:
        """The parameters that differ from their defaults (job.json `method` beside `name`)."""
        return {f.key: v for f in self.fields for v in [f.changed()] if v is not _SAME}
