"""The plugin's packages import only those below them, and the plugin imports no engine dependency.

Read from the source (every relative import, also those inside functions), so a module that
imports upwards, or a new top-level module that belongs to no package, fails here.
"""
import ast
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[2] / "plugin"
# Lowest first: a module may import its own package's modules and those of packages below it.
LAYERS = ["common", "jobs", "engine_process", "maps", "segy", "dock", "processing", "."]
FORBIDDEN = {"torch", "rasterio", "semiseg", "lightning", "segmentation_models_pytorch", "onnxruntime", "PyQt5", "PyQt6"}


def _package(parts: tuple) -> str:
    """The plugin package a module (path parts below plugin/) belongs to; "." for the entry point."""
    return parts[0] if len(parts) > 1 else "."


def _imports():
    """(module, its package, the plugin package it imports) for every relative import."""
    for path in PLUGIN.rglob("*.py"):
        parts = path.relative_to(PLUGIN).parts
        source = _package(parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = list(parts[:-1])[: len(parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
                names = target[:1] or [a.name for a in node.names]
                for name in names:
                    folder = PLUGIN / name
                    yield path.relative_to(PLUGIN).as_posix(), source, name if folder.is_dir() else "."


def test_every_plugin_module_is_in_a_package_but_the_entry_point():
    top = sorted(p.name for p in PLUGIN.glob("*.py"))
    assert top == ["__init__.py", "plugin.py"]
    assert sorted(p.name for p in PLUGIN.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(LAYERS[:-1])


def test_no_plugin_import_runs_up_a_layer():
    upward = [f"{module} imports {target}" for module, source, target in _imports()
              if LAYERS.index(target) > LAYERS.index(source)]
    assert upward == []


def test_the_plugin_imports_no_engine_dependency_and_no_qt_binding_directly():
    found = []
    for path in PLUGIN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            found += [f"{path.relative_to(PLUGIN)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert found == []
