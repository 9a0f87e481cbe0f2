"""The layout shows the roles: no folder imports one that imports it back, and modules stay small.

Folders: ``events`` (the ground floor: it imports nothing of ours),
``projections`` (it imports nothing of ``services``), and each wing
``services/<wing>``. An import inside a function counts as much as one at the
top. A module longer than ``LONG`` lines says why at its top ("Long because").
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OURS = ("events", "projections", "services")
LONG = 300


def _folder(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "services" and len(parts) > 2 else parts[0]


def _modules() -> dict[str, Path]:
    found = {}
    for top in OURS:
        for path in (REPO / top).rglob("*.py"):
            if "schemas" in path.relative_to(REPO).parts:
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in OURS}


def folder_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in _modules().items():
        here = _folder(name)
        for target in _imports(path):
            there = _folder(target)
            if there != here:
                graph[here].add(there)
    return graph


def test_the_ground_floor_and_the_projections_import_only_downwards() -> None:
    graph = folder_graph()
    assert graph["events"] == set(), graph["events"]
    assert graph["projections"] <= {"events"}, graph["projections"]


def test_no_folder_imports_one_that_imports_it_back() -> None:
    graph = folder_graph()
    cycles = []
    for start in list(graph):
        path, seen = [start], set()
        stack = [(start, iter(sorted(graph[start])))]
        while stack:
            _, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                continue
            if child == start:
                cycles.append([*path, start])
            elif child not in seen and child not in path:
                seen.add(child)
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    assert not cycles, "folders in a cycle: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_long_modules_say_why_they_are_long() -> None:
    unexplained = []
    for name, path in sorted(_modules().items()):
        text = path.read_text()
        if text.count("\n") > LONG and "Long because" not in (
            ast.get_docstring(ast.parse(text)) or ""
        ):
            unexplained.append(f"{name} ({text.count(chr(10))} lines)")
    assert not unexplained, unexplained
