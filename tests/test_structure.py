"""The package's shape: its import graph has no cycle, so every stage can be read (and tested) without the
stages after it."""

from __future__ import annotations

import ast
from pathlib import Path

import ccre

PACKAGE = Path(ccre.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The ccre modules ``path`` imports, at module level or inside functions (``from a import b`` counts as
    ``a.b`` where that is a module, else ``a``), and the packages around them that do not hold ``path``:
    importing ``a.b.c`` from outside ``a.b`` runs ``a/b/__init__`` first, and whatever that imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        found.update(n for n in names if n in known)
    own = module_name(path)
    own_packages = {".".join(own.split(".")[:i]) for i in range(1, own.count(".") + 2)}
    enclosing = {".".join(n.split(".")[:i]) for n in found for i in range(2, n.count(".") + 1)}
    return found | (enclosing & known) - own_packages


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    # the root package only re-exports the public API: it is nobody's dependency
    return {m: imported_modules(p, known) - {"ccre", m} for m, p in files.items() if m != "ccre"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert "ccre.cli.app" in graph and "ccre.training.finetune" in graph  # the graph covers the package
    assert cycles(graph) == []


def test_the_library_never_imports_its_command_line() -> None:
    graph = import_graph()
    offenders = sorted(m for m, deps in graph.items() if not m.startswith(("ccre.cli", "ccre.__main__"))
                       and any(d.startswith("ccre.cli") for d in deps))
    assert offenders == []


def test_the_command_line_app_is_a_leaf() -> None:
    """Command modules import the app; the app imports no command module (spaCy's layout)."""
    assert not any(d.startswith("ccre.cli") for d in import_graph()["ccre.cli.app"])
