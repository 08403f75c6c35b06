"""The import rules of docs/architecture.md: each package imports only
packages of earlier stages (and the foundation), and no module imports
itself round a cycle."""

import ast
import graphlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: Stage of each top-level part of `hab`; a module may import its own
#: package and anything of a lower stage. Stage 0 is the foundation.
STAGES = {
    "hab": 0,  # the package itself (__version__)
    "hab.errors": 0,
    "hab.paths": 0,
    "hab.debian": 0,
    "hab.records": 0,
    "hab.stats": 0,
    "hab._kernel": 0,
    "hab.allocators": 1,
    "hab.suite": 2,
    "hab.build": 3,
    "hab.execution": 4,
    "hab.store": 5,
    "hab.analysis": 6,
    "hab.report": 7,
    "hab.interop": 7,
    "hab.cli": 8,
    "hab.__main__": 9,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "hab").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(path: Path, known: dict) -> set[str]:
    """The hab modules `path` imports (a package when no module of that name exists)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names
            ]
        else:
            continue
        found |= {n for n in names if n == "hab" or n.startswith("hab.")}
    return found


def _part(module: str) -> str:
    """The top-level part of hab a module belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_every_part_of_hab_has_a_stage():
    assert {_part(m) for m in _modules()} <= set(STAGES)


def test_no_package_imports_a_later_stage_or_a_sibling():
    known = _modules()
    wrong = []
    for module, path in known.items():
        own = _part(module)
        for target in _imports(path, known):
            other = _part(target)
            if other != own and STAGES[other] >= STAGES[own] and STAGES[own] != 0:
                wrong.append(f"{module} -> {target}")
            if STAGES[own] == 0 and STAGES[other] != 0:
                wrong.append(f"{module} -> {target} (the foundation imports only the foundation)")
    assert wrong == []


def test_modules_import_each_other_without_cycles():
    known = _modules()
    graph = {m: _imports(p, known) - {m} for m, p in known.items()}
    graphlib.TopologicalSorter(graph).static_order()  # raises CycleError naming the cycle
