"""The floors of docs/architecture.md, checked against identitylib's own source.

Only imports that run when a module is imported count: an import inside a function, or under
``if TYPE_CHECKING:``, is lazy by intent. Each top-level module or subpackage of identitylib
stands on one floor (lowest first); a module may import from its own floor and the floors
below, never from a floor above, and no chain of imports leads back to where it started.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = "identitylib"
SOURCE = Path(__file__).resolve().parent.parent / PACKAGE

#: The floors, lowest first, as docs/architecture.md draws them. ``__init__`` is the package
#: ``identitylib`` itself. A new top-level module or subpackage is added where it stands.
FLOORS: tuple[tuple[str, frozenset[str]], ...] = (
    ("protocol core", frozenset({"_protocol", "_log", "exceptions", "_version"})),
    ("building blocks", frozenset({"_authority", "_cache", "_credential", "_interactive"})),
    ("flows", frozenset({"_flows"})),
    ("transport", frozenset({"_transport"})),
    (
        "application",
        frozenset(
            {
                "_application",
                "_managed_identity",
                "_persistence",
                "_redis",
                "validation",
                "auth_scheme",
                "authority",
                "managed_identity",
                "application",
                "token_cache",
                "telemetry",
                "_telemetry",
            }
        ),
    ),
    (
        "public API and shells",
        frozenset(
            {
                "__init__",
                "__main__",
                "aio",
                "integrations",
                "web",
                "emulator",
                "_cli",
                "_cli_commands",
                "_demo",
            }
        ),
    ),
)


def module_files(root: Path) -> dict[str, Path]:
    """Every module under the package directory ``root``, by dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def eager_imports(body: Iterable[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module runs (not in a function, not typing-only)."""
    for statement in body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            yield statement
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(statement, ast.If):
            if not _is_type_checking(statement.test):
                yield from eager_imports(statement.body)
            yield from eager_imports(statement.orelse)
        elif isinstance(statement, ast.Try):
            for block in (statement.body, statement.orelse, statement.finalbody):
                yield from eager_imports(block)
            for handler in statement.handlers:
                yield from eager_imports(handler.body)
        elif isinstance(statement, (ast.With, ast.ClassDef, ast.For, ast.While)):
            yield from eager_imports(statement.body)


def _base_of(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """The module of ``modules`` that ``name`` (a module or a name in one) lives in."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in modules else None


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's own modules it imports eagerly."""
    modules = module_files(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: list[str] = []
        for node in eager_imports(tree.body):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            else:
                base = _base_of(module, path.name == "__init__.py", node)
                targets += [f"{base}.{alias.name}" for alias in node.names]
        found = {_known(target, modules) for target in targets}
        graph[module] = {t for t in found if t is not None and t != module}
    return graph


def floor_of(module: str) -> int | None:
    """The index in ``FLOORS`` of the floor ``module`` stands on, or None."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for index, (_, names) in enumerate(FLOORS):
        if top in names:
            return index
    return None


def upward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    """``importer -> imported`` for every import into a higher floor."""
    found = []
    for module, imported in sorted(graph.items()):
        here = floor_of(module)
        for target in sorted(imported):
            there = floor_of(target)
            if here is not None and there is not None and there > here:
                found.append(f"{module} ({FLOORS[here][0]}) -> {target} ({FLOORS[there][0]})")
    return found


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:
        # iterative depth-first search: (module, iterator over what it imports)
        work = [(start, iter(sorted(graph.get(start, ()))))]
        order[start] = low[start] = len(order)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, pending = work[-1]
            target = next(pending, None)
            if target is not None:
                if target not in order:
                    order[target] = low[target] = len(order)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[module] = min(low[module], order[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == order[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return groups


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SOURCE)


def test_the_reader_sees_eager_imports_and_skips_lazy_ones(graph: dict[str, set[str]]) -> None:
    """The checks below read what they should (an empty graph would pass them all)."""
    assert "identitylib._protocol._messages" in graph["identitylib._transport._sync"]
    assert "identitylib._flows._single_flight" in graph["identitylib._application._base"]
    # _base imports _authority._region only under TYPE_CHECKING
    assert "identitylib._authority._region" not in graph["identitylib._application._base"]


def test_every_module_stands_on_a_floor(graph: dict[str, set[str]]) -> None:
    assert sorted(m for m in graph if floor_of(m) is None) == []


def test_no_import_runs_upward(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_no_import_circle(graph: dict[str, set[str]]) -> None:
    assert circles(graph) == []


#: What only the cache package itself may touch of a token cache (the layers above use the
#: functions of ``identitylib/_cache/_own.py``).
CACHE_INTERNALS = frozenset(
    {"_lock", "_store", "_cache", "_before_access", "_after_access", "_changed_since_access"}
)


def cache_internals_read(root: Path) -> list[str]:
    """``module:line attribute`` for each read of a cache internal on another object than
    ``self`` outside the cache package (an object's own ``self._cache`` is its own)."""
    found = []
    for module, path in module_files(root).items():
        if module.startswith(f"{PACKAGE}._cache"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in CACHE_INTERNALS
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                found.append(f"{module}:{node.lineno} .{node.attr}")
    return found


def test_no_layer_reads_the_caches_internals() -> None:
    assert cache_internals_read(SOURCE) == []


def test_the_checks_find_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    """The checks themselves, on a made-up package with one of each fault."""
    package = tmp_path / PACKAGE
    files = {
        "__init__.py": "",
        "_protocol/__init__.py": "from identitylib._flows import step\n",
        "_flows/__init__.py": "",
        "_flows/step.py": "from . import other\n",
        "_flows/other.py": (
            "from typing import TYPE_CHECKING\n"
            "from identitylib._flows.step import x\n"
            "if TYPE_CHECKING:\n    from identitylib.aio import y\n"
            "def later():\n    from identitylib.aio import z\n"
        ),
        "aio/__init__.py": "def f(app):\n    with app.token_cache._lock:\n        pass\n",
        "stray.py": "",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    made_up = import_graph(package)
    assert upward_imports(made_up) == [
        "identitylib._protocol (protocol core) -> identitylib._flows.step (flows)"
    ]
    assert circles(made_up) == [["identitylib._flows.other", "identitylib._flows.step"]]
    assert [m for m in made_up if floor_of(m) is None] == ["identitylib.stray"]
    assert cache_internals_read(package) == ["identitylib.aio:2 ._lock"]
