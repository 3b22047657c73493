"""Every Qt name the plugin and its tests spell exists in PyQt6 as well as in PyQt5.

QGIS 4 is Qt6-only and its `qgis.PyQt` is PyQt6, where enums are scoped
(`Qt.AlignLeft` is gone, `Qt.AlignmentFlag.AlignLeft` works on both), `exec_` and many Qt5
classes and members are removed. Most of the plugin's Qt spellings are only reached when a
widget is built or a button pressed, so a missing one would show up in QGIS 4 as a traceback
in the user's face. This test reads the sources (ast, nothing of the plugin is run) and looks
every `QtClass.Member...` chain rooted at a name imported from `qgis.PyQt.*` up in PyQt6 (in a
child process of the same /usr/bin/python3, since this one has PyQt5 loaded by the conftest)
and in the PyQt5 of this process. It also refuses `exec_`, `fontMetrics().width`,
`activated[str]` and direct PyQt5/PyQt6 imports.

It proves spellings, not behaviour: a chain that exists in PyQt6 may still be used wrongly.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import qt_lookup

REPO = Path(__file__).resolve().parents[2]
LOOKUP = Path(qt_lookup.__file__)  # run as a script, in a process of its own, for PyQt6
SOURCES = sorted([*(REPO / "plugin").rglob("*.py"), *(REPO / "tests" / "plugin").glob("*.py")])
# QGIS 4 keeps these Qt6 QtGui classes importable from qgis.PyQt.QtWidgets too, for plugins
# shared with QGIS 3 (qgis/QGIS pull requests 55658 and 57467).
QGIS_WIDGETS_FROM_GUI = {"QAction", "QActionGroup", "QShortcut"}
INSTALL_HINT = ("PyQt6 is not importable by /usr/bin/python3: install python3-pyqt6 "
                "(`make system-deps` or `apt-get install python3-pyqt6`) to run the Qt6 checks")

# Signals whose QString overload Qt6 removed (QComboBox); `signal[str]` raises under PyQt6.
STR_OVERLOADS = {"activated", "highlighted", "currentIndexChanged"}


def _is_font_metrics(node) -> bool:
    """`x.fontMetrics()` or `QFontMetrics(...)`: what `.width` was called on in Qt5."""
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Attribute) and node.func.attr == "fontMetrics")
        or (isinstance(node.func, ast.Name) and node.func.id in ("QFontMetrics", "QFontMetricsF")))


def qt_uses(path: Path) -> tuple:
    """(uses, refusals) of one source file.

    uses: (line, module, [name, *members]) for every name imported from qgis.PyQt.<module>
    and every attribute chain rooted at such a name (or at the module itself);
    refusals: (line, why) for `exec_`, `fontMetrics().width`, `activated[str]` and PyQt5/PyQt6
    imported directly: what PyQt6 lacks but a name lookup cannot see."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    roots, uses, refusals = {}, [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in ("PyQt5", "PyQt6"):
                refusals.append((node.lineno, f"imports {node.module} directly, not through qgis.PyQt"))
            elif node.module.startswith("qgis.PyQt."):
                module = node.module[len("qgis.PyQt."):]
                for alias in node.names:
                    roots[alias.asname or alias.name] = (module, [alias.name])
                    uses.append((node.lineno, module, [alias.name]))
            elif node.module == "qgis.PyQt":
                for alias in node.names:
                    roots[alias.asname or alias.name] = (alias.name, [])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("PyQt5", "PyQt6"):
                    refusals.append((node.lineno, f"imports {alias.name} directly, not through qgis.PyQt"))
        elif isinstance(node, ast.Attribute) and node.attr == "exec_":
            refusals.append((node.lineno, "`exec_` is gone in PyQt6: call exec()"))
        elif isinstance(node, ast.Attribute) and node.attr == "width" and _is_font_metrics(node.value):
            refusals.append((node.lineno, "QFontMetrics.width is gone in Qt6: horizontalAdvance()"))
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr in STR_OVERLOADS and isinstance(node.slice, ast.Name) and node.slice.id == "str"):
            refusals.append((node.lineno, f"`{node.value.attr}[str]` is gone in Qt6: connect the int signal"))

    def chain(node):
        """['Qt', 'AlignLeft'] for `Qt.AlignLeft`; None when not rooted at a plain name."""
        if isinstance(node, ast.Name):
            return [node.id]
        if isinstance(node, ast.Attribute):
            inner = chain(node.value)
            return inner and inner + [node.attr]
        return None

    class Chains(ast.NodeVisitor):
        def visit_Attribute(self, node):
            names = chain(node)
            if names and names[0] in roots:
                module, prefix = roots[names[0]]  # prefix is [] for a module: `QtCore.Qt...`
                uses.append((node.lineno, module, prefix + names[1:]))
                return  # the inner attributes are prefixes of this chain
            self.generic_visit(node)

    Chains().visit(tree)
    return uses, refusals


def _all_uses() -> list:
    found = []
    for path in SOURCES:
        uses, _ = qt_uses(path)
        found += [(path.relative_to(REPO), line, module, names) for line, module, names in uses]
    return found


def _missing_in_pyqt6(uses: list) -> list:
    query = json.dumps([[module, *names] for _, _, module, names in uses])
    result = subprocess.run([sys.executable, str(LOOKUP), json.dumps(sorted(QGIS_WIDGETS_FROM_GUI))],
                            input=query, capture_output=True, text=True, timeout=120)
    if result.returncode == 3:
        pytest.fail(INSTALL_HINT + f" ({result.stderr.strip()})", pytrace=False)
    assert result.returncode == 0, result.stderr
    return [uses[i] for i in json.loads(result.stdout)]


def _where(uses) -> str:
    return "\n".join(f"{path}:{line}: {module}.{'.'.join(names)}" for path, line, module, names in uses)


def test_every_qt_name_exists_in_pyqt6():
    uses = _all_uses()
    assert len(uses) > 100  # the scan sees the plugin's Qt (it spells several hundred)
    missing = _missing_in_pyqt6(uses)
    if missing:
        pytest.fail("Qt names PyQt6 (QGIS 4) does not have:\n" + _where(missing), pytrace=False)


def test_every_qt_name_exists_in_this_pyqt5():
    """The scoped spellings must also work on the PyQt5 of QGIS 3 (this process's qgis.PyQt)."""
    uses = _all_uses()
    missing = [uses[i] for i in qt_lookup.missing("qgis.PyQt", [[module, *names] for _, _, module, names in uses])]
    if missing:
        pytest.fail("Qt names the PyQt5 of QGIS 3 does not have:\n" + _where(missing), pytrace=False)


def test_no_exec_underscore_nor_direct_pyqt_imports():
    refused = [f"{path.relative_to(REPO)}:{line}: {why}" for path in SOURCES for line, why in qt_uses(path)[1]]
    if refused:
        pytest.fail("\n".join(refused), pytrace=False)


def test_the_scan_catches_what_pyqt6_lacks(tmp_path):
    """The checker itself: unscoped enums, exec_, fontMetrics().width, activated[str] and PyQt5
    imports in a sample are all found."""
    sample = tmp_path / "sample.py"
    sample.write_text("from qgis.PyQt.QtCore import Qt\n"
                      "from qgis.PyQt import QtWidgets\n"
                      "from PyQt5.QtCore import QTimer\n"
                      "def f(align=Qt.AlignLeft):\n"
                      "    QtWidgets.QDialog().exec_()\n"
                      "    return Qt.AlignmentFlag.AlignLeft, QtWidgets.QHeaderView.Stretch\n"
                      "w.fontMetrics().width('x'), w.fontMetrics().horizontalAdvance('x')\n"
                      "combo.activated[str].connect(print), combo.activated.connect(print)\n")
    uses, refusals = qt_uses(sample)
    found = [(sample, line, module, names) for line, module, names in uses]
    missing = {(line, ".".join(names)) for _, line, _, names in _missing_in_pyqt6(found)}
    assert missing == {(4, "Qt.AlignLeft"), (6, "QHeaderView.Stretch")}
    assert sorted(line for line, _ in refusals) == [3, 5, 7, 8]
