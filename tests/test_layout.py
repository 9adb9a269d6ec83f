"""The package's shape: no import cycles between modules, and imports between packages run one way.

An AST pass over every import, those inside functions included (a lazy import still couples)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "runner" / "cursus_local"

# What each part may import. Base modules (errors, status, results, ...) sit under all of them.
MAY_IMPORT = {
    "base": set(),
    "jobs": {"base"},
    "backends": {"base", "jobs"},
    "data": {"base"},
    "pipeline": {"base", "jobs", "backends", "data"},
    "unit": {"base", "jobs", "backends", "data", "pipeline"},
    "report": {"base", "jobs", "backends", "data", "pipeline", "unit"},
    "cli": {"base", "jobs", "backends", "data", "pipeline", "unit", "report"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def part(module: str) -> str:
    head = module.split(".")[0]
    return head if head in MAY_IMPORT and head != "base" else "base"


def imports(module: str) -> set[str]:
    path = MODULES[module]
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] + ([node.module] if node.module else [])
                target = ".".join(p for p in base if p)
            elif (node.module or "").startswith("cursus_local"):
                target = node.module.removeprefix("cursus_local").lstrip(".")
            else:
                continue
            for alias in node.names:   # `from . import x` names a module when there is one
                child = f"{target}.{alias.name}" if target else alias.name
                found.add(child if child in MODULES else target)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("cursus_local.") for a in node.names
                      if a.name.startswith("cursus_local.")}
    return {m for m in found if m in MODULES and m != module and m != ""}


GRAPH = {m: imports(m) for m in MODULES}


def test_no_import_cycles():
    cycles, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_imports_between_packages_run_one_way():
    wrong = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in targets
             if part(t) != part(m) and part(t) not in MAY_IMPORT[part(m)]]
    assert not wrong, "\n".join(sorted(wrong))


def test_the_checker_sees_imports():
    # the pass itself works: known edges are found, relative and lazy alike
    assert "pipeline.dag" in GRAPH["pipeline.sequencer"] and "jobs.processing" in GRAPH["pipeline.preflight"]
    assert "data.checks" in GRAPH["pipeline.sequencer"]        # imported inside a method
