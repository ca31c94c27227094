"""Interoperability with msal 1.39 + msal-extensions: the file and the lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import identitylib
from identitylib._persistence import PersistedTokenCache
from identitylib._persistence._lock import CacheFileLock
from tests._servers import require_module

from ._helpers import AUTHORITY, FakeHttp, add_token, app_event, at_secrets

msal = require_module("msal")
extensions = require_module("msal_extensions")
pytestmark = pytest.mark.msal

SCOPES = ["api://backend/.default"]


def test_a_file_written_by_msal_extensions_is_served_here(tmp_path: Path) -> None:
    path = str(tmp_path / "msal_token_cache.json")
    writer = msal.ConfidentialClientApplication(
        "cid",
        "secret",
        authority=AUTHORITY,
        token_cache=extensions.PersistedTokenCache(extensions.FilePersistence(path)),
        http_client=FakeHttp("from-msal"),
    )
    assert writer.acquire_token_for_client(SCOPES)["access_token"] == "from-msal"

    no_tokens = FakeHttp()  # Fails the test on any token request.
    reader = identitylib.ConfidentialClientApplication(
        "cid",
        "secret",
        authority=AUTHORITY,
        token_cache=PersistedTokenCache(extensions.FilePersistence(path)),
        http_client=no_tokens,
    )
    result = reader.acquire_token_for_client(SCOPES)
    assert (result["access_token"], result["token_source"]) == ("from-msal", "cache")
    assert no_tokens.posts == 0


def test_a_file_written_here_is_served_by_msal_extensions(tmp_path: Path) -> None:
    path = str(tmp_path / "msal_token_cache.json")
    writer = identitylib.ConfidentialClientApplication(
        "cid",
        "secret",
        authority=AUTHORITY,
        token_cache=PersistedTokenCache(extensions.FilePersistence(path)),
        http_client=FakeHttp("from-identitylib"),
    )
    assert writer.acquire_token_for_client(SCOPES)["token_source"] == "identity_provider"

    no_tokens = FakeHttp()
    reader = msal.ConfidentialClientApplication(
        "cid",
        "secret",
        authority=AUTHORITY,
        token_cache=extensions.PersistedTokenCache(extensions.FilePersistence(path)),
        http_client=no_tokens,
    )
    result = reader.acquire_token_for_client(SCOPES)
    assert (result["access_token"], result["token_source"]) == ("from-identitylib", "cache")
    assert no_tokens.posts == 0


def test_writers_of_both_libraries_on_one_file_keep_every_token(tmp_path: Path) -> None:
    path = str(tmp_path / "msal_token_cache.json")
    theirs = extensions.PersistedTokenCache(extensions.FilePersistence(path))
    ours = PersistedTokenCache(extensions.FilePersistence(path))
    for n in range(5):
        theirs.add(app_event(f"api://theirs{n}/.default", f"theirs-{n}"))
        add_token(ours, f"ours-{n}")
    expected = {f"theirs-{n}" for n in range(5)} | {f"ours-{n}" for n in range(5)}
    assert at_secrets(path) == expected
    assert {e["secret"] for e in ours.search("AccessToken")} == expected


def _held_by(lock_factory: Any, ready: threading.Event, hold: float) -> dict[str, float]:
    times: dict[str, float] = {}

    def run() -> None:
        with lock_factory():
            ready.set()
            time.sleep(hold)
            times["released"] = time.monotonic()

    threading.Thread(target=run, daemon=True).start()
    return times


def test_msal_extensions_waits_while_identitylib_holds_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "c.json.lockfile")
    ours = CacheFileLock(path)
    assert ours.acquire(1)
    entered: dict[str, float] = {}

    def theirs() -> None:
        with extensions.CrossPlatLock(path):
            entered["at"] = time.monotonic()

    thread = threading.Thread(target=theirs, daemon=True)
    thread.start()
    time.sleep(0.6)
    assert "at" not in entered
    released = time.monotonic()
    ours.release()
    thread.join(10)
    assert entered["at"] >= released
    assert entered["at"] - released < 1.5  # It polls every 0.25 s.


def test_identitylib_waits_while_msal_extensions_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    ready = threading.Event()
    times = _held_by(lambda: extensions.CrossPlatLock(str(path) + ".lockfile"), ready, 0.6)
    assert ready.wait(5)
    cache = PersistedTokenCache(str(path))
    add_token(cache, "waited")  # Its write must wait for the lock.
    written = time.monotonic()
    assert written >= times["released"]
    assert written - times["released"] < 1.0
    assert at_secrets(path) == {"waited"}


def test_a_write_gives_up_in_bounded_time_when_msal_extensions_keeps_the_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.json"
    ready = threading.Event()
    times = _held_by(lambda: extensions.CrossPlatLock(str(path) + ".lockfile"), ready, 1.5)
    assert ready.wait(5)
    cache = PersistedTokenCache(str(path), lock_timeout=0.3)
    started = time.monotonic()
    add_token(cache, "later")
    assert time.monotonic() - started < 1.2
    assert not path.exists()
    deadline = time.monotonic() + 5
    while "released" not in times and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.flush() is True
    assert at_secrets(path) == {"later"}
