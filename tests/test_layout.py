"""The layout's rules (docs/architecture.md), checked on the source: no import cycles between project modules,
and the boundaries between the wings.

Imports are read from the syntax tree, so imports inside functions and under `if TYPE_CHECKING:` count too: a
cycle that only type checking or a late import hides is still two modules that cannot be understood apart.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "models", "scheduler", "content")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> Iterator[str]:
    """Every module `name` imports (project modules by their full name, others by their top-level name)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yielded = False
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:  # `from bot.domain import audit` imports the module bot.domain.audit
                    yield sub
                    yielded = True
            if not yielded:
                yield target


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for target in _imports(path, name, modules):
            # A project module by its full name; an imported name inside one (bot.x import Y) by its module.
            while target and target not in modules and target.split(".")[0] in PACKAGES:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_checker_finds_a_cycle_and_a_boundary_crossing() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "aiohttp"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert "aiohttp" in reachable(graph, "d")
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    # `from bot.domain import audit` (a module by from-import), a TYPE_CHECKING import, a function-level one.
    assert "bot.domain.audit" in graph["handlers.staff"]
    assert "bot.services" in graph["bot.edge.context"]
    assert "bot.app" in graph["bot.cli.server"]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles between project modules:\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_handlers_do_not_call_wechat_or_the_worker() -> None:
    graph = import_graph()
    forbidden = {"bot.wechat.gateway", "bot.outbound.worker"}
    crossing = {name: sorted(graph[name] & forbidden) for name in graph if name.startswith("handlers")}
    assert {k: v for k, v in crossing.items() if v} == {}


def test_the_inbound_path_does_not_import_the_worker() -> None:
    graph = import_graph()
    inbound = [n for n in graph if n.startswith(("bot.edge", "handlers")) or n == "bot.services"]
    crossing = {name: "bot.outbound.worker" in reachable(graph, name) for name in inbound}
    assert [name for name, bad in crossing.items() if bad] == []


def test_the_domain_knows_no_chat_wechat_or_http() -> None:
    graph = import_graph()
    forbidden = ("handlers", "aiohttp", "bot.edge", "bot.wechat.gateway", "bot.dev", "bot.cli", "click")
    crossing = {}
    for name in graph:
        if name.startswith("bot.domain"):
            bad = sorted(t for t in reachable(graph, name) if t == "aiohttp" or t.startswith(forbidden))
            if bad:
                crossing[name] = bad
    assert crossing == {}


def test_production_code_does_not_import_the_dev_wing() -> None:
    graph = import_graph()
    allowed = ("bot.dev", "bot.cli")  # `partybot demo`/`chat` start the dev wing on request
    crossing = {
        name: sorted(t for t in graph[name] if t.startswith("bot.dev"))
        for name in graph
        if not name.startswith(allowed)
    }
    assert {k: v for k, v in crossing.items() if v} == {}


def test_no_module_over_700_lines_outside_the_dev_wing() -> None:
    long = {
        name: n
        for name, path in project_modules().items()
        if not name.startswith("bot.dev") and (n := len(path.read_text(encoding="utf-8").splitlines())) > 700
    }
    assert long == {}
