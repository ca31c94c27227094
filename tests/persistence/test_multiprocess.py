"""Several processes on one cache file: nothing lost, nothing torn."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from identitylib._persistence import PersistedTokenCache
from tests._servers import require_module

from ._helpers import add_token, at_secrets, stored
from ._workers import add_tokens, die_while_writing, write_forever

require_module("msal_extensions")

PROCESSES = 8
TOKENS_EACH = 50
ROUNDS = 5
BUDGET = 60.0  # seconds, bounding the waits of all rounds together (a hang detector)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _context() -> Any:
    # fork is much quicker to start where it is safe; spawn elsewhere.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


def _stop(processes: list[Any]) -> None:
    for process in processes:
        if process.is_alive():
            process.kill()
        process.join(5)


def test_processes_adding_at_the_same_moment_keep_every_token(tmp_path: Path) -> None:
    context = _context()
    deadline = time.monotonic() + BUDGET
    expected = {f"at-{w}-{n}" for w in range(PROCESSES) for n in range(TOKENS_EACH)}
    for round_ in range(ROUNDS):
        path = tmp_path / f"round{round_}" / "tokens.json"
        barrier = context.Barrier(PROCESSES)
        results = context.Queue()
        processes = [
            context.Process(target=add_tokens, args=(str(path), w, TOKENS_EACH, barrier, results))
            for w in range(PROCESSES)
        ]
        try:
            for process in processes:
                process.start()
            reports = [
                results.get(timeout=max(0.1, deadline - time.monotonic())) for _ in processes
            ]
            for process in processes:
                process.join(max(0.1, deadline - time.monotonic()))
        finally:
            _stop(processes)
        assert [p.exitcode for p in processes] == [0] * PROCESSES
        assert sorted(worker for worker, _ in reports) == list(range(PROCESSES))
        assert all(pending == 0 for _, pending in reports)
        assert at_secrets(path) == expected, f"round {round_}"
        assert sorted(os.listdir(path.parent)) == ["tokens.json"]


@posix_only
def test_a_writer_killed_at_random_moments_never_leaves_a_torn_file(tmp_path: Path) -> None:
    context = _context()
    path = tmp_path / "tokens.json"
    entries = 300  # Each write replaces a ~1 MB file.
    deadline = time.monotonic() + BUDGET
    interrupted_writes = 0
    for _ in range(6):
        ready = context.Event()
        writer = context.Process(target=write_forever, args=(str(path), ready, entries, 3000))
        try:
            writer.start()
            assert ready.wait(max(0.1, deadline - time.monotonic()))
            time.sleep(random.uniform(0.02, 0.3))
            os.kill(writer.pid, signal.SIGKILL)
            writer.join(10)
        finally:
            _stop([writer])
        interrupted_writes += any(name.endswith(".tmp") for name in os.listdir(tmp_path))
        assert len(stored(path)["AccessToken"]) == entries  # Parses, and is complete.
    # A new process takes over the abandoned lock file and cleans up.
    survivor = PersistedTokenCache(str(path))
    add_token(survivor, "after")
    assert "after" in at_secrets(path)
    assert sorted(os.listdir(tmp_path)) == ["tokens.json"]
    print(f"{interrupted_writes} of 6 kills interrupted a write")


@posix_only
@pytest.mark.parametrize("where", ["mid-temp-write", "before-rename"])
def test_a_writer_killed_mid_write_leaves_the_previous_file(tmp_path: Path, where: str) -> None:
    context = _context()
    path = tmp_path / "tokens.json"
    child = context.Process(target=die_while_writing, args=(str(path), where))
    try:
        child.start()
        child.join(30)
    finally:
        _stop([child])
    assert child.exitcode == -signal.SIGKILL
    assert at_secrets(path) == {"before"}  # The interrupted write changed nothing.
    leftovers = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    assert len(leftovers) == 1
    assert (tmp_path / "tokens.json.lockfile").exists()  # Abandoned by the dead writer.
    cache = PersistedTokenCache(str(path))
    add_token(cache, "next")
    assert at_secrets(path) == {"before", "next"}
    assert sorted(os.listdir(tmp_path)) == ["tokens.json"]
    json.loads(path.read_text())
