"""Look Qt name chains up in one Qt binding: the Qt6 check's one lookup, for PyQt6 and PyQt5 alike.

Run as a script (`python3 qt_lookup.py WIDGETS_FROM_GUI_JSON < QUERIES_JSON`) it looks the chains
up in PyQt6, in a process of its own (the plugin tests' process has PyQt5 loaded), prints the
indices of the missing ones and exits 3 when PyQt6 is not importable. Imported, `missing` looks
them up under `qgis.PyQt` (the PyQt5 of QGIS 3).
"""
import importlib
import json
import sys


def missing(package: str, queries: list, widgets_from_gui=frozenset()) -> list:
    """Indices of the [module, name, *members] queries that `package` (e.g. "PyQt6") lacks.

    `widgets_from_gui`: classes QGIS 4 keeps importable from QtWidgets though Qt6 moved them to
    QtGui; they are looked up where Qt6 has them."""
    absent = []
    for i, (module, *chain) in enumerate(queries):
        if module == "QtWidgets" and chain[0] in widgets_from_gui:
            module = "QtGui"
        try:
            obj = importlib.import_module(f"{package}.{module}")
            for name in chain:
                obj = getattr(obj, name)
        except (ImportError, AttributeError):
            absent.append(i)
    return absent


if __name__ == "__main__":
    try:
        importlib.import_module("PyQt6.QtCore")  # by name: the plugin's tests refuse a direct PyQt import
    except ImportError as e:
        print(e, file=sys.stderr)
        sys.exit(3)
    print(json.dumps(missing("PyQt6", json.load(sys.stdin), set(json.loads(sys.argv[1])))))
