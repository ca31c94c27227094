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
from tests._idp import Idp
from tests._servers import require_module

from ._helpers import add_token, app_event, at_secrets

msal = require_module("msal")
extensions = require_module("msal_extensions")
pytestmark = pytest.mark.msal


def test_a_file_written_by_msal_extensions_is_served_here(tmp_path: Path, tls_idp: Idp) -> None:
    path = str(tmp_path / "msal_token_cache.json")
    writer = msal.ConfidentialClientApplication(
        **tls_idp.msal_kwargs(),
        token_cache=extensions.PersistedTokenCache(extensions.FilePersistence(path)),
    )
    issued = writer.acquire_token_for_client(tls_idp.SCOPES)["access_token"]
    reader = identitylib.ConfidentialClientApplication(
        **tls_idp.app_kwargs(), token_cache=PersistedTokenCache(extensions.FilePersistence(path))
    )
    result = reader.acquire_token_for_client(tls_idp.SCOPES)
    assert (result["access_token"], result["token_source"]) == (issued, "cache")
    assert tls_idp.token_posts() == 1  # msal's only


def test_a_file_written_here_is_served_by_msal_extensions(tmp_path: Path, tls_idp: Idp) -> None:
    path = str(tmp_path / "msal_token_cache.json")
    writer = identitylib.ConfidentialClientApplication(
        **tls_idp.app_kwargs(), token_cache=PersistedTokenCache(extensions.FilePersistence(path))
    )
    issued = writer.acquire_token_for_client(tls_idp.SCOPES)
    assert issued["token_source"] == "identity_provider"
    reader = msal.ConfidentialClientApplication(
        **tls_idp.msal_kwargs(),
        token_cache=extensions.PersistedTokenCache(extensions.FilePersistence(path)),
    )
    result = reader.acquire_token_for_client(tls_idp.SCOPES)
    assert (result["access_token"], result["token_source"]) == (issued["access_token"], "cache")
    assert tls_idp.token_posts() == 1  # identitylib's only


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


def _held_by(
    lock_factory: Any, ready: threading.Event, let_go: threading.Event, events: list[str]
) -> threading.Thread:
    """Hold the lock from a thread until ``let_go`` is set; note "released" before letting go."""

    def run() -> None:
        with lock_factory():
            ready.set()
            let_go.wait(10)
            events.append("released")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_msal_extensions_waits_while_identitylib_holds_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "c.json.lockfile")
    ours = CacheFileLock(path)
    assert ours.acquire(1)
    events: list[str] = []

    def theirs() -> None:
        with extensions.CrossPlatLock(path):
            events.append("theirs entered")

    thread = threading.Thread(target=theirs, daemon=True)
    thread.start()
    time.sleep(0.6)  # time for it to try (and poll) while we hold the lock
    events.append("ours released")
    ours.release()
    thread.join(10)
    assert events == ["ours released", "theirs entered"]


def test_identitylib_waits_while_msal_extensions_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    ready, let_go, events = threading.Event(), threading.Event(), []
    holder = _held_by(
        lambda: extensions.CrossPlatLock(str(path) + ".lockfile"), ready, let_go, events
    )
    assert ready.wait(5)
    releaser = threading.Timer(0.6, let_go.set)  # lets go while our write waits
    releaser.start()
    cache = PersistedTokenCache(str(path))
    add_token(cache, "waited")  # Its write must wait for the lock.
    events.append("written")
    releaser.join(10)
    holder.join(10)
    assert events == ["released", "written"]
    assert at_secrets(path) == {"waited"}


def test_a_write_gives_up_when_msal_extensions_keeps_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    ready, let_go, events = threading.Event(), threading.Event(), []
    holder = _held_by(
        lambda: extensions.CrossPlatLock(str(path) + ".lockfile"), ready, let_go, events
    )
    assert ready.wait(5)
    cache = PersistedTokenCache(str(path), lock_timeout=0.3)
    add_token(cache, "later")  # returns although the lock is held until we let go
    assert events == []
    assert not path.exists()
    let_go.set()
    holder.join(10)
    assert events == ["released"]
    assert cache.flush() is True
    assert at_secrets(path) == {"later"}
