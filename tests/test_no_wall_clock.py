"""No test asserts on the wall clock: request counts, states and injected clocks prove behaviour.

A timing assertion (``assert time.monotonic() - started < 2``) fails on a slow or busy machine
and proves nothing a count or an event order would not; timings belong to ``bench/``. This
scan reads every test module with ``ast`` and reports each ``assert`` that compares a value
read from ``time.monotonic``/``perf_counter``/``time`` (directly, or through a name assigned
from such a reading in the same function). A deadline that only ends a waiting loop is not an
assertion and is not reported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CLOCKS = {"monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns"}

STAMP = (
    "checks a timestamp the library took from the wall clock (units, lifetime) against "
    "time.time() with a margin of a minute or more; nothing is timed"
)
#: "path:function" -> why the assertion there is not a timing (keep this short).
ALLOWED: dict[str, str] = {
    "tests/e2e/test_identitylib_against_emulator.py:"
    "test_refresh_in_drives_proactive_refresh": STAMP,
    "tests/e2e/test_msal_against_emulator.py:test_device_code_flow": STAMP,
    "tests/emulator/test_server_integration.py:test_managed_identity_sources": STAMP,
    "tests/emulator/test_server_managed_identity.py:test_app_service_shape": STAMP,
    "tests/integrations/test_azure_core.py:test_get_token_and_get_token_info": STAMP,
    "tests/oidc/test_device_flow.py:test_device_flow_dict": STAMP,
    "tests/test_credential.py:assert_standard_claims": STAMP,
    "tests/test_device_flow.py:test_initiate_request_and_flow_dict": (
        "brackets the stamp between readings taken before and after the call"
    ),
    "tests/test_device_flow.py:test_absurd_lifetime_is_clamped": STAMP,
    "tests/test_managed_identity.py:test_server_refresh_in_is_kept": STAMP,
    "tests/test_silent.py:test_proactive_refresh_falls_back_to_the_cached_token": STAMP,
}


def _is_clock_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute):  # time.monotonic()
        return func.attr in CLOCKS and isinstance(func.value, ast.Name) and func.value.id == "time"
    return isinstance(func, ast.Name) and func.id in CLOCKS - {"time"}  # from time import ...


def _reads_clock(node: ast.AST, tainted: set[str]) -> bool:
    """Whether ``node`` is a number computed from a clock reading (not a dict holding one)."""
    if _is_clock_call(node):
        return True
    if isinstance(node, ast.Name):
        return node.id in tainted
    if isinstance(node, ast.BinOp):
        return _reads_clock(node.left, tainted) or _reads_clock(node.right, tainted)
    if isinstance(node, ast.UnaryOp):
        return _reads_clock(node.operand, tainted)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):  # int(...), abs(...)
        numeric = node.func.id in {"int", "float", "round", "abs", "min", "max"}
        return numeric and any(_reads_clock(arg, tainted) for arg in node.args)
    return False


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``function`` without those of the functions nested in it."""
    for child in ast.iter_child_nodes(function):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield child
        yield from _own_nodes(child)


def _tainted_names(function: ast.AST) -> set[str]:
    """Names assigned (in ``function`` itself) from a clock reading or from such a name."""
    tainted: set[str] = set()
    while True:
        before = len(tainted)
        for node in _own_nodes(function):
            value = getattr(node, "value", None)
            if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or value is None:
                continue
            if not _reads_clock(value, tainted):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                tainted.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        if len(tainted) == before:
            return tainted


def clock_assertions(source: str) -> Iterator[tuple[str, int]]:
    """(function, line) of each assert comparing a clock reading, in ``source``."""
    tree = ast.parse(source)
    scopes: list[ast.AST] = [tree]
    scopes += [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for scope in scopes:
        tainted = _tainted_names(scope)
        name = getattr(scope, "name", "<module>")
        for node in _own_nodes(scope):
            if not isinstance(node, ast.Assert):
                continue
            compares = [c for c in ast.walk(node.test) if isinstance(c, ast.Compare)]
            operands = [o for c in compares for o in (c.left, *c.comparators)]
            if any(_reads_clock(o, tainted) for o in operands):
                yield name, node.lineno


def _test_sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p.name != Path(__file__).name)


def test_no_assertion_compares_a_clock_reading() -> None:
    found = []
    for path in _test_sources():
        relative = path.relative_to(TESTS.parent).as_posix()
        for function, line in clock_assertions(path.read_text(encoding="utf-8")):
            if f"{relative}:{function}" not in ALLOWED:
                found.append(f"{relative}:{line} in {function}")
    assert found == [], "wall-clock assertions (prove it with counts or an injected clock):\n" + (
        "\n".join(found)
    )


def test_allowed_entries_still_exist() -> None:
    present = set()
    for path in _test_sources():
        relative = path.relative_to(TESTS.parent).as_posix()
        present |= {f"{relative}:{f}" for f, _ in clock_assertions(path.read_text("utf-8"))}
    assert set(ALLOWED) <= present, "stale ALLOWED entries: remove them"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    t = time.monotonic()\n    g()\n    assert time.monotonic() - t < 2\n", 1),
        ("def f():\n    s = time.perf_counter()\n    e = perf_counter() - s\n    assert e < 1", 1),
        ("def f():\n    d = time.monotonic() + 5\n    assert time.monotonic() < d\n", 1),
        ("def f():\n    assert x['exp'] > time.time() + 60\n", 1),
        ("def f():\n    d = time.monotonic() + 5\n    while time.monotonic() < d:\n        g()", 0),
        ("def f():\n    t = time.monotonic()\n    assert g() == 3\n", 0),
        ("def f():\n    t = clock.monotonic()\n    assert t < 3\n", 0),
        ("def f():\n    t = time.monotonic()\n    def g():\n        assert t < 3\n", 0),
        ("def f():\n    flow = {'at': time.time()}\n    assert flow['at'] > 0\n", 0),
        ("def f():\n    assert abs(x - (time.time() + 600)) < 5\n", 1),
    ],
)
def test_the_scan_itself(source: str, expected: int) -> None:
    assert len(list(clock_assertions(source))) == expected
