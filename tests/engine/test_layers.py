"""The engine's imports point down its layers and form no cycle (README, Layout).

Read from the source (every `import semiseg...`, also those inside functions), so a new module
that imports upwards fails here without anyone listing it.
"""
import ast
from pathlib import Path

import semiseg

PACKAGE = Path(semiseg.__file__).parent
# Lowest first: a module may import its own layer's modules and those of layers below it.
LAYERS = [
    {"__init__", "errors", "devices", "rendezvous"},
    {"io"},
    {"data", "metrics"},
    {"jobs"},  # the job-directory contract: job.json, paths, events, lock
    {"models"},
    {"predict", "evaluate"},
    {"segy"},  # SEG-Y geometry, sections and slices; volumes predicted through `predict`
    {"train"},
    {"pipeline"},  # the job end to end: prepare, train, export, predict, report
    {"demo", "doctor"},
    {"cli"},
]


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def _imports() -> dict:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "semiseg":
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.split(".")[0] == "semiseg"}
        graph[module] = found
    return graph


def test_every_engine_package_has_a_layer():
    tops = {p.name if p.is_dir() else p.stem for p in PACKAGE.iterdir()
            if (p.is_dir() and (p / "__init__.py").is_file()) or p.suffix == ".py"}
    assert tops <= set().union(*LAYERS)


def test_no_import_runs_up_a_layer():
    upward = [f"{module} imports {target}" for module, targets in _imports().items() for target in targets
              if _layer(target) > _layer(module)]
    assert upward == []


def test_the_packages_import_one_another_without_a_cycle():
    graph = {}
    for module, targets in _imports().items():  # a cycle of packages (two modules of one package may)
        source = module.split(".")[1] if "." in module else "__init__"
        graph.setdefault(source, set()).update(t.split(".")[1] if "." in t else "__init__" for t in targets)
    for package in graph:
        graph[package].discard(package)
    seen, on_path = set(), []

    def visit(package):
        assert package not in on_path, " -> ".join(on_path[on_path.index(package):] + [package])
        if package in seen:
            return
        on_path.append(package)
        for target in graph.get(package, ()):
            visit(target)
        on_path.pop()
        seen.add(package)

    for package in graph:
        visit(package)
