"""Workloads 8, 9 and 13 of ``bench/run.py``: what a new process pays, measured in fresh
interpreters (``_children.py``, ``python -X importtime``) so that nothing is imported or
cached beforehand: cold start, import time and memory, first token from a persisted cache.

The libraries' ``.pyc`` files are in place, as after ``pip install``: the subprocesses run
with ``PYTHONDONTWRITEBYTECODE`` unset, after one import that writes them if missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import median, tenant_id
from _harness import Budget, Collected, Row, alternating, app_tokens, log

HERE = Path(__file__).resolve().parent
PY = sys.executable
IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(\S.*)$")


def _child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [PY, str(HERE / "_children.py"), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _bytecode_env() -> dict[str, str]:
    """The environment, with bytecode caching on: an installed package has its .pyc files
    (msal's were written by pip); without them identitylib would be compiled every time."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _write_bytecode(libs: dict[str, ModuleType]) -> None:
    """Import each library once in a subprocess: writes its .pyc files if missing."""
    for name in libs:
        subprocess.run([PY, "-c", f"import {name}"], check=True, env=_bytecode_env())


# ------------------------------------------------------------------------ 8. cold start


def w8_cold_start(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    log("8. cold start (subprocesses, 20 ms per request)")
    res: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in libs:
            path = os.path.join(tmp, f"{name}.http_cache")
            cold = _child("coldstart", name, "20", path)
            warm = _child("coldstart", name, "20", path)  # a new process, persisted http_cache
            res[name] = {"cold": cold, "persisted": warm}
    m, o = res["msal"], res["identitylib"]
    for phase, app_key, label, limit in (
        ("cold", "first_app", "first call, new process", None),
        ("persisted", "first_app", "first call, persisted http_cache", 1),
        ("cold", "second_app", "second app, same authority", None),
    ):
        mm, oo = m[phase][app_key], o[phase][app_key]
        out.rows.append(
            Row(
                "8 cold start",
                label + " (requests)",
                "",
                "requests",
                mm["requests"],
                oo["requests"],
                target=f"ours == {limit}"
                if limit is not None
                else ("0 discovery requests" if app_key == "second_app" else "(info)"),
                met=(oo["requests"] == limit)
                if limit is not None
                else (oo["discovery_requests"] == 0 if app_key == "second_app" else None),
            )
        )
        out.rows.append(
            Row(
                "8 cold start",
                label + " (wall)",
                "",
                "ms",
                mm["wall_ms"],
                oo["wall_ms"],
                target="(info)",
            )
        )


# ------------------------------------------------------------------- 9. import, memory


def import_time_us(module: str) -> float:
    """Cumulative import time of ``module`` (us) in a fresh interpreter, .pyc in place."""
    proc = subprocess.run(
        [PY, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=_bytecode_env(),
    )
    total = 0.0
    for line in proc.stderr.splitlines():
        match = IMPORT_LINE.search(line)
        if match and match.group(3).strip() == module:
            total = float(match.group(2))
    return total


def w9_import_memory(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    log("9. import time and memory (subprocesses)")
    times: dict[str, list[float]] = {name: [] for name in libs}
    _write_bytecode(libs)  # warm-up
    for r in range(b.import_runs):
        for name in alternating(libs, r):
            times[name].append(import_time_us(name))
    out.rows.append(
        Row(
            "9 import time",
            "python -X importtime",
            "",
            "ms",
            median(times["msal"]) / 1000,
            median(times["identitylib"]) / 1000,
            target="<= 0.5",
            met=median(times["identitylib"]) <= 0.5 * median(times["msal"]),
        )
    )
    mem = {name: _child("memory", name, str(b.huge)) for name in libs}
    for key, label in (
        ("peak_bytes", "peak (deserialize)"),
        ("retained_bytes", "retained"),
        ("after_lookup_bytes", "retained after a non-exact lookup"),
    ):
        m, o = mem["msal"][key] / 2**20, mem["identitylib"][key] / 2**20
        out.rows.append(
            Row(
                "9 memory, tokens held",
                label,
                f"{b.huge:,}",
                "MiB",
                m,
                o,
                target="<= 1" if key == "peak_bytes" else "(info)",
                met=(o <= m) if key == "peak_bytes" else None,
            )
        )


# ------------------------------------------------ 13. first token from a persisted cache


def w13_first_token(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """A new process loads a cache file of ``b.huge`` app tokens and serves one hit:
    wall time from importing the library to the token (a subprocess per library and run,
    the libraries alternating; medians), and its phases. Two ways of loading: the bench
    reads the file as text and hands it to ``deserialize()`` (the same for both), and each
    library through its own persistence layer (msal-extensions' ``PersistedTokenCache`` on
    a ``FilePersistence`` for msal, identitylib's ``PersistedTokenCache`` on the path)."""
    log(f"13. first token from a persisted cache of {b.huge:,} tokens (subprocesses)")
    n = b.huge
    runs = max(3, b.rounds)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in libs}
    persisted: dict[str, list[dict[str, Any]]] = {name: [] for name in libs}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cache.json")
        with open(path, "w", encoding="utf-8") as file:
            file.write(app_tokens(n // 10, 10))
        tenant = tenant_id((n // 10) * 3 // 7)  # one tenant's tokens among all
        _write_bytecode(libs)  # as after pip install
        for r in range(runs):
            for name in alternating(libs, r):
                found[name].append(_child("firsttoken", name, path, tenant))
                persisted[name].append(_child("firsttoken-persisted", name, path, tenant))
    for runs_of, phase, label, target in (
        (found, "total_ms", "import to token (text read by the bench)", "<= 0.2"),
        (found, "import_ms", "import", "(info)"),
        (found, "load_ms", "read + deserialize()", "(info)"),
        (found, "first_hit_ms", "app + first hit", "(info)"),
        (persisted, "total_ms", "import to token (own persistence layer)", "<= 0.2"),
        (persisted, "first_hit_ms", "app + first hit (reads the file)", "(info)"),
    ):
        m = median([run[phase] for run in runs_of["msal"]])
        o = median([run[phase] for run in runs_of["identitylib"]])
        out.rows.append(
            Row(
                "13 first token, persisted cache",
                label,
                f"{n:,}",
                "ms",
                m,
                o,
                target=target,
                met=(o <= 0.2 * m) if target != "(info)" else None,
            )
        )
