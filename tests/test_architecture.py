"""The shape of ``medianest/`` (architecture.md): layers point one way, no import cycle, no page
importing another page or a client, no module over 500 lines.

The import graph is read from the source with ``ast``: every ``import`` counts, including those
inside functions and under ``TYPE_CHECKING``, with relative imports resolved, so an import moved
into a function does not hide a cycle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "medianest"
SOURCE = Path(__file__).resolve().parent.parent / PACKAGE
MAX_LINES = 500

# Above ``services``: what a service must never import.
UPPER = ("medianest.pages", "medianest.components", "medianest.state", "medianest.api", "medianest.tasks",
         "medianest.wiring", "medianest.live_bridge", "medianest.event_errors", "medianest.medianest")
# Side by side, neither importing the other: Reflex's states and pages, and the HTTP routes.
EVENT_SIDE = ("medianest.state", "medianest.pages", "medianest.components")
ROUTES = ("medianest.api",)
# The one module that builds clients; only the upper layer may import it.
WIRING = "medianest.wiring"

# Known breaks, each being fixed on another branch right now. The lead deletes an entry when that
# branch is merged; a stale entry fails ``test_the_allow_lists_hold_no_stale_entries``.
# Modules over the limit, or page-layer breaks, that a branch in flight is fixing: each entry must
# go as soon as it is fixed (test_the_allow_lists_hold_no_stale_entries fails on a stale one).
TOO_LONG_FOR_NOW: set[str] = set()
PAGE_BREAKS_FOR_NOW: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def _modules() -> dict[str, Module]:
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = Module(".".join(parts), path, is_package)
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _targets(module: Module, node: ast.Import | ast.ImportFrom, known: dict[str, Module]) -> set[str]:
    """The modules of ``medianest`` an import statement loads (``from pkg import sub`` is ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if _under(alias.name, PACKAGE)}
    if node.level:
        package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
        base_parts = package[:len(package) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if not _under(base, PACKAGE):
        return set()
    found = set()
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        found.add(candidate if candidate in known else base)
    return found


def _resolve(name: str, known: dict[str, Module]) -> str | None:
    """The longest known module a dotted name falls in (``medianest.x.y`` -> ``medianest.x``)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return None


def import_graph() -> dict[str, set[str]]:
    known = _modules()
    graph: dict[str, set[str]] = {}
    for module in known.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(module, node, known):
                    resolved = _resolve(target, known)
                    if resolved is not None and resolved != module.name:
                        edges.add(resolved)
        graph[module.name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_breaks(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            edge = f"{source} imports {target}"
            if _under(source, "medianest.services") and any(_under(target, upper) for upper in UPPER):
                problems.append(f"{edge}: services never import the layers above them")
            if _under(source, "medianest.integrations") and (
                    _under(target, "medianest.services") or any(_under(target, upper) for upper in UPPER)):
                problems.append(f"{edge}: integrations never import services or anything above")
            if _under(target, WIRING) and not any(_under(source, upper) for upper in UPPER):
                problems.append(f"{edge}: only the states, pages, routes and tasks use the wiring")
            if any(_under(source, m) for m in EVENT_SIDE) and any(_under(target, m) for m in ROUTES) or \
                    any(_under(source, m) for m in ROUTES) and any(_under(target, m) for m in EVENT_SIDE):
                problems.append(f"{edge}: the HTTP routes and the Reflex states share only what is below both (web.py)")
            if _under(source, "medianest.pages") and (source, target) not in PAGE_BREAKS_FOR_NOW:
                if _under(target, "medianest.integrations"):
                    problems.append(f"{edge}: a page calls a service, never a client")
                if _under(target, "medianest.pages") and target != "medianest.pages":
                    problems.append(f"{edge}: a page never imports another page (shared pieces live in components/)")
    return problems


def long_modules() -> list[str]:
    found = []
    for module in _modules().values():
        lines = len(module.path.read_text(encoding="utf-8").splitlines())
        relative = module.path.relative_to(SOURCE.parent).as_posix()
        if lines > MAX_LINES and relative not in TOO_LONG_FOR_NOW:
            found.append(f"{relative}: {lines} lines (at most {MAX_LINES})")
    return found


def test_no_import_cycle_anywhere():
    assert cycles(import_graph()) == []


def test_layers_point_one_way():
    assert layer_breaks(import_graph()) == []


def test_no_module_over_500_lines():
    assert long_modules() == []


def test_services_and_integrations_do_not_import_reflex():
    """Rules and clients run in the task workers too, where no Reflex app exists."""
    offenders = []
    for module in _modules().values():
        if not (_under(module.name, "medianest.services") or _under(module.name, "medianest.integrations")):
            continue
        for node in ast.walk(ast.parse(module.path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{module.name} imports {n}" for n in names if n.split(".")[0] in {"reflex", "reflex_base"}]
    assert offenders == []


def test_the_allow_lists_hold_no_stale_entries():
    graph = import_graph()
    stale = [path for path in TOO_LONG_FOR_NOW
             if not (SOURCE.parent / path).is_file()
             or len((SOURCE.parent / path).read_text(encoding="utf-8").splitlines()) <= MAX_LINES]
    stale += [f"{a} -> {b}" for a, b in PAGE_BREAKS_FOR_NOW if b not in graph.get(a, set())]
    assert stale == [], "fixed: delete these entries from the allow-lists in tests/test_architecture.py"


# ---- the checker itself -------------------------------------------------------------------

def test_a_cycle_through_an_import_inside_a_function_is_found():
    graph = {"medianest.a": {"medianest.b"}, "medianest.b": {"medianest.c"}, "medianest.c": {"medianest.a"},
             "medianest.d": {"medianest.a"}}
    assert cycles(graph) == [["medianest.a", "medianest.b", "medianest.c"]]


def test_imports_inside_functions_and_relative_imports_are_edges(tmp_path, monkeypatch):
    package = tmp_path / PACKAGE
    (package / "tasks").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks" / "__init__.py").write_text("")
    (package / "tasks" / "broker.py").write_text("def later():\n    from . import status\n")
    (package / "tasks" / "status.py").write_text("from .broker import broker\nfrom .. import config\n")
    (package / "config.py").write_text("import medianest.tasks.status\n")
    monkeypatch.setattr(f"{__name__}.SOURCE", package)
    graph = import_graph()
    assert graph["medianest.tasks.broker"] == {"medianest.tasks.status"}
    assert graph["medianest.tasks.status"] == {"medianest.tasks.broker", "medianest.config"}
    assert cycles(graph) == [["medianest.config", "medianest.tasks.broker", "medianest.tasks.status"]]


@pytest.mark.parametrize(("source", "target"), [
    ("medianest.services.search", "medianest.state"),
    ("medianest.services.search", "medianest.wiring"),
    ("medianest.integrations.plex", "medianest.services.auth"),
    ("medianest.pages.library", "medianest.integrations.plex"),
    ("medianest.pages.library", "medianest.pages.home"),
    ("medianest.db", "medianest.wiring"),
    ("medianest.state", "medianest.api"),
    ("medianest.pages.callback", "medianest.api"),
    ("medianest.api.media", "medianest.state"),
])
def test_each_layer_break_is_reported(source, target):
    assert layer_breaks({source: {target}}) != []
