"""The package's two layers, read from the code: the core (the papers'
methods) never imports the book's support (``labse_lite.book``), and no
module reaches another that reaches back (no import cycle, counting
imports inside functions too).  The command line (``cli``, ``__main__``)
sits above both."""

from __future__ import annotations

import ast
from pathlib import Path

import labse_lite

PACKAGE = Path(labse_lite.__file__).parent
APP = {"labse_lite.cli", "labse_lite.__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every ``labse_lite`` module that ``path`` imports, anywhere in it."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            # ``from pkg import module`` imports the module itself
            found |= {f"{mod}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("labse_lite")}


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        graph[name] = {
            m
            for m in _imports(path, name)
            if m in files and m != name and m != "labse_lite"
        }
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_is_read_from_the_code():
    graph = import_graph()
    assert len(graph) > 20
    assert "labse_lite.distributed" in graph["labse_lite.train"]
    assert "labse_lite.book.grading" in graph["labse_lite.book.course"]


def test_no_import_cycle():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_core_never_imports_the_book():
    graph = import_graph()
    upward = sorted(
        (m, t)
        for m, targets in graph.items()
        if not m.startswith("labse_lite.book") and m not in APP
        for t in targets
        if t.startswith("labse_lite.book")
    )
    assert not upward, f"core modules importing the book layer: {upward}"


def test_the_checks_fail_on_a_cycle_and_an_upward_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
