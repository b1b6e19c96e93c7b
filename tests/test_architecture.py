"""The shape DESIGN.md promises, read from the source: no import cycles, and dependencies that
point one way (``server -> sync_protocol <- field_client``, never server <-> field_client).

Every import statement counts, wherever it stands (inside a function, under ``TYPE_CHECKING``):
a cycle hidden in either still means two modules that cannot be understood apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sync_protocol", "server", "field_client")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    out.add(target)  # ``from package import module``
                elif base in known:
                    out.add(base)  # ``from module import name``
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
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


def test_the_graph_is_read_from_the_source() -> None:
    graph = import_graph()
    assert "server.push" in graph["server.sync_api"] and "sync_protocol.checks" in graph["server.push"]
    assert "server.state" in graph["server.office.journal"]  # a relative ``from ..state import``


def test_no_module_takes_part_in_an_import_cycle() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_server_and_field_client_never_import_each_other() -> None:
    graph = import_graph()
    crossing = [
        (a, b)
        for a, targets in graph.items()
        for b in targets
        if {a.split(".")[0], b.split(".")[0]} == {"server", "field_client"}
    ]
    assert crossing == []


def test_sync_protocol_imports_neither_side() -> None:
    graph = import_graph()
    outward = [
        (a, b)
        for a, targets in graph.items()
        if a.startswith("sync_protocol")
        for b in targets
        if not b.startswith("sync_protocol")
    ]
    assert outward == []


IO_MODULES = {
    "httpx",
    "socket",
    "sqlite3",
    "sqlite_utils",
    "subprocess",
    "urllib",
    "http",
    "litestar",
    "uvicorn",
    "psycopg",
    "shutil",
}


def test_sync_protocol_is_pure_but_for_its_conformance_kit() -> None:
    """The kit (``sync_protocol.conformance``) is the one corner that speaks HTTP, and no other
    module of the project imports it."""
    impure = []
    for name, path in _modules().items():
        if not name.startswith("sync_protocol") or name.startswith("sync_protocol.conformance"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            roots = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            impure += [(name, root) for root in roots if root.split(".")[0] in IO_MODULES]
    assert impure == []
    graph = import_graph()
    assert [
        a
        for a, targets in graph.items()
        if not a.startswith("sync_protocol.conformance")
        and any(t.startswith("sync_protocol.conformance") for t in targets)
    ] == []


DRIVERS = {"sqlite3", "sqlite_utils", "psycopg", "psycopg_pool"}


def _top_level_imports(path: Path) -> set[str]:
    """The absolute modules a file imports (first part of the name), wherever the import stands."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_only_the_storage_package_imports_a_database_driver() -> None:
    """DESIGN.md "Storage and scale": one package of the server (``server.storage``) owns every
    SQL statement and transaction, so a second backend is one more implementation there.

    The rule is the server's: ``field_client``'s laptop store (its own SQLite file, which never
    meets the server's database) stays as it is, and tests may open a store to look inside."""
    offenders = sorted(
        (name, driver)
        for name, path in _modules().items()
        if name.startswith("server") and not name.startswith("server.storage")
        for driver in _top_level_imports(path) & DRIVERS
    )
    assert offenders == []


def test_the_driver_rule_sees_a_driver_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import sqlite3\n    from psycopg import sql\n")
    assert _top_level_imports(module) & DRIVERS == {"sqlite3", "psycopg"}


def test_no_sql_runs_outside_the_storage_package() -> None:
    """Not only the drivers: no server module outside ``server.storage`` calls ``execute`` or
    ``executemany`` on anything, so every statement has its one home there."""
    calls = sorted(
        (name, node.lineno)
        for name, path in _modules().items()
        if name.startswith("server") and not name.startswith("server.storage")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "executemany", "executescript"}
    )
    assert calls == []
