"""identitylib.aio's PersistedTokenCache: the aio flows on a shared file, no file I/O on
the event loop, other writers (threads, processes, msal-extensions), lock waits, failures."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import stat
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest

from tests._servers import require_module

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("httpx")

import identitylib
from identitylib import aio
from identitylib._persistence import PersistedTokenCache as BlockingCache
from identitylib._persistence import _persisted_cache
from identitylib._persistence._lock import CacheFileLock
from identitylib.aio import PersistedTokenCache
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
)
from tests._blocking import BlockingCalls
from tests._idp import Idp
from tests.aio._support import (
    ALICE,
    APP_SCOPES,
    USER_SCOPES,
    run,
    token_posts,
    user_assertion,
)

from ._helpers import app_event, at_secrets, stored
from ._workers import add_tokens

GRAPH = ["User.Read"]
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
BUDGET = 60.0  # seconds, for any multi-process test


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A cache file path in a directory that does not exist yet."""
    return tmp_path / "cache" / "tokens.json"


def daemon(emu: Emulator, cache: Any) -> aio.ConfidentialClientApplication:
    return aio.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), token_cache=cache
    )


def _context() -> Any:
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


def _age(path: Path, seconds: float = 60.0) -> None:
    """Backdate the file's mtime (as if written a while ago)."""
    old = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(old, old))


class IoRecorder:
    """Records which thread calls the cache's store and cross-process lock methods."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *caches: BlockingCache) -> None:
        self.calls: list[tuple[str, int]] = []
        for cache in caches:
            for name in ("stamp", "read", "write", "set_aside", "sweep"):
                self._wrap(monkeypatch, cache._backend, name)
            for name in ("acquire", "release"):
                self._wrap(monkeypatch, cache._file_lock, name)

    def _wrap(self, monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> None:
        original: Callable[..., Any] = getattr(obj, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.get_ident()))
            return original(*args, **kwargs)

        monkeypatch.setattr(obj, name, recorded)

    def names(self) -> set[str]:
        return {name for name, _ in self.calls}

    def threads(self) -> set[int]:
        return {thread for _, thread in self.calls}

    def count(self, name: str) -> int:
        return sum(1 for called, _ in self.calls if called == name)


# --------------------------------------------------------------------- basics


def test_is_a_persisted_cache_with_async_hooks(path: Path, tmp_path: Path) -> None:
    cache = PersistedTokenCache(str(path), tmp_path / "my.lock", lock_timeout=2)
    assert isinstance(cache, BlockingCache)
    assert cache.has_async_hooks
    assert cache.location == str(path)
    assert cache.lock_location == str(tmp_path / "my.lock")
    assert cache._lock_timeout == 2.0
    assert not path.exists()  # The constructor reads nothing.


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_a_new_directory_is_0700_and_the_file_0600(tmp_path: Path, emulator: Emulator) -> None:
    require_module("msal_extensions")
    path = tmp_path / "new" / "cache" / "tokens.json"

    async def main() -> list[int]:
        modes = []
        cache = PersistedTokenCache(identitylib.build_persistence(path, encrypt=False))
        async with daemon(emulator, cache) as app:
            for scopes in (APP_SCOPES, GRAPH_DEFAULT):  # two writes of the file
                result = await app.acquire_token_for_client(scopes)
                assert "access_token" in result, result
                modes.append(stat.S_IMODE(path.stat().st_mode))
        return modes

    previous = os.umask(0o022)  # the usual umask, under which os.makedirs gives 0755
    try:
        assert run(main()) == [0o600, 0o600]
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert len(at_secrets(path)) == 2


def test_the_blocking_api_refuses_it_with_a_clear_type_error(
    path: Path, emulator: Emulator
) -> None:
    cache = PersistedTokenCache(str(path))
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority(), token_cache=cache
    )
    with pytest.raises(TypeError, match=r"identitylib\.aio"):
        app.acquire_token_for_client(APP_SCOPES)
    public = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emulator.authority(), token_cache=cache
    )
    with pytest.raises(TypeError, match=r"identitylib\.aio"):
        public.get_accounts()
    with pytest.raises(TypeError, match=r"identitylib\.aio"):
        cache.access(None, DEMO_DAEMON_ID, True)
    assert token_posts(emulator) == 0


# --------------------------------------------------------------- aio flows


def test_client_credentials_then_cache_through_the_file(path: Path, emulator: Emulator) -> None:
    async def main() -> list[dict[str, Any]]:
        async with daemon(emulator, PersistedTokenCache(str(path))) as app:
            first = await app.acquire_token_for_client(APP_SCOPES)
            second = await app.acquire_token_for_client(APP_SCOPES)
        # A new cache (another process) on the same file is served from it.
        async with daemon(emulator, PersistedTokenCache(str(path))) as other:
            third = await other.acquire_token_for_client(APP_SCOPES)
        return [first, second, third]

    first, second, third = run(main())
    assert first["token_source"] == "identity_provider", first
    assert (second["token_source"], third["token_source"]) == ("cache", "cache")
    assert first["access_token"] == second["access_token"] == third["access_token"]
    assert token_posts(emulator) == 1
    assert at_secrets(path) == {first["access_token"]}


def test_password_then_silent_through_the_file(path: Path, emulator: Emulator) -> None:
    async def main() -> tuple[dict[str, Any], Any, list[dict[str, Any]]]:
        app = aio.PublicClientApplication(
            DEMO_CLI_ID, authority=emulator.authority(), token_cache=PersistedTokenCache(str(path))
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            signed_in = await app.acquire_token_by_username_password(*ALICE, USER_SCOPES)
        [account] = await app.get_accounts()
        silent = await app.acquire_token_silent(USER_SCOPES, account)
        other = aio.PublicClientApplication(
            DEMO_CLI_ID, authority=emulator.authority(), token_cache=PersistedTokenCache(str(path))
        )
        accounts = await other.get_accounts()
        return signed_in, silent, accounts

    signed_in, silent, accounts = run(main())
    assert signed_in["token_source"] == "identity_provider", signed_in
    assert silent is not None
    assert silent["token_source"] == "cache"
    assert silent["access_token"] == signed_in["access_token"]
    assert [a["username"] for a in accounts] == [ALICE[0]]
    assert token_posts(emulator) == 1
    content = stored(path)
    assert at_secrets(path) == {signed_in["access_token"]}
    assert [e["secret"] for e in content["RefreshToken"].values()] == [signed_in["refresh_token"]]
    assert len(content["Account"]) == 1
    assert len(content["IdToken"]) == 1


def test_on_behalf_of_then_cache_through_the_file(path: Path, emulator: Emulator) -> None:
    assertion = user_assertion(emulator)
    emulator.reset_requests()

    async def main() -> list[dict[str, Any]]:
        app = aio.ConfidentialClientApplication(
            DEMO_API_ID,
            DEMO_API_SECRET,
            authority=emulator.authority(),
            token_cache=PersistedTokenCache(str(path)),
        )
        first = await app.acquire_token_on_behalf_of(assertion, GRAPH)
        second = await app.acquire_token_on_behalf_of(assertion, GRAPH)
        return [first, second]

    first, second = run(main())
    assert first["token_source"] == "identity_provider", first
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert token_posts(emulator) == 1
    (entry,) = stored(path)["AccessToken"].values()
    assert entry["secret"] == first["access_token"]
    assert entry["user_assertion_hash"]
    assert len(stored(path)["RefreshToken"]) == 1


def test_200_tasks_on_a_cold_cache_send_one_token_request(path: Path, emulator: Emulator) -> None:
    async def main() -> list[dict[str, Any]]:
        app = daemon(emulator, PersistedTokenCache(str(path)))
        return await asyncio.gather(*(app.acquire_token_for_client(APP_SCOPES) for _ in range(200)))

    results = run(main())
    assert token_posts(emulator) == 1
    assert len({r["access_token"] for r in results}) == 1
    assert at_secrets(path) == {results[0]["access_token"]}


# ------------------------------------------------------- the loop never blocks


def test_no_file_io_on_the_event_loop_thread(
    path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assertion = user_assertion(emulator)
    path.parent.mkdir()
    path.write_text("{ corrupt")  # set aside, in a worker thread
    app_cache = PersistedTokenCache(str(path))
    user_cache = PersistedTokenCache(str(path))
    writer = BlockingCache(str(path))  # another writer: the aio caches reload
    recorder = IoRecorder(monkeypatch, app_cache, user_cache)

    async def main() -> int:
        loop_thread = threading.get_ident()
        daemon_app = daemon(emulator, app_cache)
        obo_app = aio.ConfidentialClientApplication(
            DEMO_API_ID, DEMO_API_SECRET, authority=emulator.authority(), token_cache=app_cache
        )
        public = aio.PublicClientApplication(
            DEMO_CLI_ID, authority=emulator.authority(), token_cache=user_cache
        )
        for _ in range(2):
            assert "access_token" in await daemon_app.acquire_token_for_client(APP_SCOPES)
            assert "access_token" in await obo_app.acquire_token_on_behalf_of(assertion, GRAPH)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            await public.acquire_token_by_username_password(*ALICE, USER_SCOPES)
        [account] = await public.get_accounts()
        assert await public.acquire_token_silent(USER_SCOPES, account) is not None
        await asyncio.to_thread(writer.add, app_event("api://other/.default", "other"))
        assert "access_token" in await daemon_app.acquire_token_for_client(APP_SCOPES)
        await public.remove_account(account)
        await daemon_app.remove_tokens_for_client()
        await app_cache.areload()
        assert await user_cache.aflush() is True
        return loop_thread

    loop_thread = run(main())
    assert {"stamp", "read", "write", "set_aside", "sweep", "acquire", "release"} <= (
        recorder.names()
    )
    assert loop_thread not in recorder.threads()
    assert "other" in at_secrets(path)


def test_changes_inside_an_access_stay_in_memory_until_it_ends(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PersistedTokenCache(str(path))
    recorder = IoRecorder(monkeypatch, cache)

    async def main() -> None:
        async with cache.access_async(None, "cid", True):
            before = len(recorder.calls)
            for n in range(5):
                cache.add(app_event(f"api://in/s{n}", f"in-{n}"))
            assert len(list(cache.search("AccessToken"))) == 5
            cache.remove_at(next(iter(cache.search("AccessToken", query={"secret": "in-0"}))))
            assert cache._depth > 0
            assert len(recorder.calls) == before  # no file I/O at all inside the access
            assert cache.pending_changes > 0
        assert cache._depth == 0
        assert cache.pending_changes == 0

    run(main())
    assert recorder.count("write") == 1
    assert at_secrets(path) == {f"in-{n}" for n in range(1, 5)}


def test_cache_hits_neither_block_the_loop_nor_touch_the_file(
    path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PersistedTokenCache(str(path))

    async def main() -> list[str]:
        app = daemon(emulator, cache)
        await app.acquire_token_for_client(APP_SCOPES)  # cold: discovery, client set-up
        _age(path)
        await cache.areload()  # the stamp is now trustworthy
        recorder = IoRecorder(monkeypatch, cache)
        with BlockingCalls() as blocking:
            for _ in range(200):
                result = await app.acquire_token_for_client(APP_SCOPES)
                assert result["token_source"] == "cache"
            await asyncio.gather(*(app.acquire_token_for_client(APP_SCOPES) for _ in range(20)))
        assert recorder.names() == {"stamp"}  # no read, no write, no lock
        return blocking.calls

    assert run(main()) == []
    assert token_posts(emulator) == 1


def test_a_lock_held_by_another_holder_does_not_block_the_loop(
    path: Path, emulator: Emulator
) -> None:
    cache = PersistedTokenCache(str(path))
    holder = CacheFileLock(cache.lock_location)  # another open file: excluded as a process is
    assert holder.acquire(1)
    events: list[str] = []

    async def main() -> dict[str, Any]:
        app = daemon(emulator, cache)
        task = asyncio.get_running_loop().create_task(app.acquire_token_for_client(APP_SCOPES))
        for _ in range(50):  # the loop keeps running other tasks while the lock is held...
            await asyncio.sleep(0.01)
        events.append("pending" if not task.done() else "done")
        holder.release()  # ...and only this release lets the acquisition finish
        events.append("released")
        result: dict[str, Any] = await task
        events.append("done")
        return result

    try:
        result = run(main())
    finally:
        holder.release()
    assert events == ["pending", "released", "done"]
    assert result["token_source"] == "identity_provider", result
    assert at_secrets(path) == {result["access_token"]}


def test_a_lock_held_past_the_timeout_serves_the_token_and_writes_later(
    path: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_persisted_cache, "DEGRADED_LOCK_WAIT", 0.05)
    cache = PersistedTokenCache(str(path), lock_timeout=0.3)
    holder = CacheFileLock(cache.lock_location)  # held until released below
    assert holder.acquire(1)

    async def main() -> tuple[dict[str, Any], dict[str, Any], int, bool]:
        app = daemon(emulator, cache)
        first = await app.acquire_token_for_client(APP_SCOPES)
        second = await app.acquire_token_for_client(APP_SCOPES)
        pending = cache.pending_changes
        holder.release()
        return first, second, pending, await cache.aflush()

    try:
        with caplog.at_level(logging.WARNING, logger="identitylib"):
            first, second, pending, flushed = run(main())
    finally:
        holder.release()
    assert first["token_source"] == "identity_provider", first
    assert (second["token_source"], second["access_token"]) == ("cache", first["access_token"])
    assert pending > 0
    assert "Could not lock" in caplog.text
    assert first["access_token"] not in caplog.text
    assert flushed is True
    assert cache.pending_changes == 0
    assert at_secrets(path) == {first["access_token"]}


# ---------------------------------------------------------------- other writers


def test_tokens_written_by_a_blocking_cache_are_served(path: Path, emulator: Emulator) -> None:
    sync_app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        authority=emulator.authority(),
        token_cache=BlockingCache(str(path)),
    )
    token = sync_app.acquire_token_for_client(APP_SCOPES)["access_token"]

    async def main() -> dict[str, Any]:
        return await daemon(emulator, PersistedTokenCache(str(path))).acquire_token_for_client(
            APP_SCOPES
        )

    result = run(main())
    assert (result["token_source"], result["access_token"]) == ("cache", token)
    assert token_posts(emulator) == 1


def test_tokens_written_by_another_process_are_seen(path: Path) -> None:
    require_module("msal_extensions")
    cache = PersistedTokenCache(str(path))

    async def secrets() -> set[str]:
        async with cache.access_async(None, "cid", True):
            return {e["secret"] for e in cache.search("AccessToken")}

    assert run(secrets()) == set()
    context = _context()
    barrier, results = context.Barrier(1), context.Queue()
    child = context.Process(target=add_tokens, args=(str(path), 7, 3, barrier, results))
    child.start()
    child.join(BUDGET)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    assert run(secrets()) == {"at-7-0", "at-7-1", "at-7-2"}


def test_concurrent_writers_in_threads_tasks_and_processes_keep_every_token(
    path: Path,
) -> None:
    require_module("msal_extensions")
    processes, each = 3, 20
    context = _context()
    barrier, results = context.Barrier(processes + 1), context.Queue()
    children = [
        context.Process(target=add_tokens, args=(str(path), w, each, barrier, results))
        for w in range(processes)
    ]
    for child in children:
        child.start()
    aio_cache = PersistedTokenCache(str(path))
    blocking = BlockingCache(str(path))

    def blocking_writer() -> None:
        for n in range(each):
            blocking.add(app_event(f"api://sync/s{n}", f"sync-{n}"))

    async def task_writer(task: int) -> None:
        for n in range(each):
            async with aio_cache.access_async(None, "cid", True):
                aio_cache.add(app_event(f"api://aio{task}/s{n}", f"aio-{task}-{n}"))

    async def main() -> None:
        thread = threading.Thread(target=blocking_writer)
        thread.start()
        await asyncio.gather(*(task_writer(t) for t in range(3)))
        await asyncio.to_thread(thread.join, BUDGET)

    async def last_access() -> set[str]:
        async with aio_cache.access_async(None, "cid", True):
            return {e["secret"] for e in aio_cache.search("AccessToken")}

    try:
        barrier.wait(timeout=30)
        run(main())
        reports = [results.get(timeout=BUDGET) for _ in children]
        for child in children:
            child.join(BUDGET)
        # Once every writer is done (the processes may outlast this process's writers),
        # an access of the same cache object reads what all of them wrote.
        seen = run(last_access())
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
    assert [child.exitcode for child in children] == [0] * processes
    assert all(pending == 0 for _, pending in reports)
    expected = (
        {f"at-{w}-{n}" for w in range(processes) for n in range(each)}
        | {f"sync-{n}" for n in range(each)}
        | {f"aio-{t}-{n}" for t in range(3) for n in range(each)}
    )
    assert at_secrets(path) == expected
    assert (aio_cache.pending_changes, blocking.pending_changes) == (0, 0)
    assert expected <= seen  # the last access saw what the other writers wrote


# -------------------------------------------------------------------- failures


def test_a_corrupt_file_is_set_aside_and_the_app_carries_on(
    path: Path, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    content = b"this is not json at all secret-token-123"
    path.parent.mkdir()
    path.write_bytes(content)

    async def main() -> dict[str, Any]:
        app = daemon(emulator, PersistedTokenCache(str(path)))
        first = await app.acquire_token_for_client(APP_SCOPES)
        second = await app.acquire_token_for_client(APP_SCOPES)
        assert second["token_source"] == "cache"
        return first

    with caplog.at_level(logging.WARNING, logger="identitylib"):
        first = run(main())
    assert first["token_source"] == "identity_provider", first
    warned = [  # asyncio's debug mode may add its own "took 0.1 seconds" on a busy machine
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "asyncio"
    ]
    assert len(warned) == 1
    assert "moved it to" in caplog.text
    assert "secret-token-123" not in caplog.text
    (aside,) = path.parent.glob("tokens.json.corrupt-*")
    assert aside.read_bytes() == content
    assert at_secrets(path) == {first["access_token"]}


def _wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_cancelled_access_leaves_the_cache_consistent(
    path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    cache = PersistedTokenCache(str(path))
    slow = cache._backend.stamp if where == "before" else cache._backend.write
    name = "stamp" if where == "before" else "write"
    started = threading.Event()

    def slowly(*args: Any) -> Any:
        started.set()
        time.sleep(0.3)
        return slow(*args)

    monkeypatch.setattr(cache._backend, name, slowly)

    async def access() -> None:
        async with cache.access_async(None, "cid", True):
            cache.add(app_event("api://x/.default", "kept"))

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(access())
        assert await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The cache is usable at once, and what was started completes.
        async with cache.access_async(None, "cid", True):
            cache.add(app_event("api://y/.default", "next"))

    run(main())
    assert _wait_until(lambda: cache._depth == 0 and cache.pending_changes == 0)
    expected = {"kept", "next"} if where == "after" else {"next"}
    assert at_secrets(path) == expected


def test_aflush_and_areload_wait_for_other_tasks_accesses_not_their_own(path: Path) -> None:
    cache = PersistedTokenCache(str(path))
    events: list[str] = []

    async def holder(inside: asyncio.Event) -> None:
        async with cache.access_async(None, "cid", True):
            cache.add(app_event("api://a/.default", "a"))
            inside.set()
            await asyncio.sleep(0.2)
            events.append("holder leaves")

    async def main() -> None:
        inside = asyncio.Event()
        task = asyncio.get_running_loop().create_task(holder(inside))
        await inside.wait()
        assert await cache.aflush() is True  # waits for the other task's access
        events.append("flushed")
        await task
        async with cache.access_async(None, "cid", True):  # its own access: no deadlock
            cache.add(app_event("api://b/.default", "b"))
            assert await asyncio.wait_for(cache.aflush(), 10) is True
            assert at_secrets(path) == {"a", "b"}
            await asyncio.wait_for(cache.areload(), 10)

    run(main())
    assert events == ["holder leaves", "flushed"]
    assert cache._depth == 0


def _run_bounded(main: Callable[[], Any], seconds: float) -> Any:
    """``run(main())`` in a thread of its own: a deadlock fails the test, never hangs it."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = run(main())
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"no result within {seconds} s: deadlocked?"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_managed_identity_misses_in_worker_threads_and_hits_on_the_loop(
    path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from identitylib._managed_identity import _arc, _sources
    from identitylib.emulator._mi_sources import managed_identity_environment

    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_sources, "ARC_AGENT_FILES", {})
    monkeypatch.setitem(_arc.ARC_TOKEN_DIRECTORIES, sys.platform, str(tmp_path / "tokens"))
    for name, value in managed_identity_environment(emulator, "app_service").items():
        monkeypatch.setenv(name, value)
    cache = PersistedTokenCache(str(path))
    recorder = IoRecorder(monkeypatch, cache)
    # More concurrent misses than the loop's default executor has threads: each holds one
    # while its blocking cache access waits for the event loop.
    resources = [f"https://r{n}.example.com" for n in range(40)]

    async def main() -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
        client = aio.ManagedIdentityClient(
            identitylib.SystemAssignedManagedIdentity(), token_cache=cache
        )
        async with client:
            misses = await asyncio.gather(
                *(client.acquire_token_for_client(resource=r) for r in resources)
            )
            hits = await asyncio.gather(
                *(client.acquire_token_for_client(resource=r) for r in resources)
            )
        return threading.get_ident(), misses, hits

    loop_thread, misses, hits = _run_bounded(main, BUDGET)
    assert all(m["token_source"] == "identity_provider" for m in misses), misses[0]
    assert [h["token_source"] for h in hits] == ["cache"] * len(resources)
    assert [h["access_token"] for h in hits] == [m["access_token"] for m in misses]
    assert at_secrets(path) == {m["access_token"] for m in misses}
    assert "write" in recorder.names()
    assert loop_thread not in recorder.threads()


def use_after_fork(cache: PersistedTokenCache, done: Any) -> None:
    """Child process (forked): an access and a write with the parent's cache object."""

    async def main() -> None:
        async with cache.access_async(None, "cid", True):
            cache.add(app_event("api://child/.default", "child"))

    run(main())
    done.set()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")
def test_a_cache_used_before_a_fork_works_in_the_child(path: Path) -> None:
    cache = PersistedTokenCache(str(path))

    async def parent() -> None:  # starts the parent's I/O thread
        async with cache.access_async(None, "cid", True):
            cache.add(app_event("api://parent/.default", "parent"))

    run(parent())
    context = multiprocessing.get_context("fork")
    done = context.Event()
    child = context.Process(target=use_after_fork, args=(cache, done))
    child.start()
    try:
        assert done.wait(30), "the child's cache access never completed"
        child.join(10)
    finally:
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert at_secrets(path) == {"parent", "child"}


# ------------------------------------------------------------------ interop


@pytest.fixture
def extensions() -> Any:
    require_module("msal")
    return require_module("msal_extensions")


@pytest.mark.msal
def test_msal_extensions_reads_what_the_aio_cache_wrote(
    tmp_path: Path, extensions: Any, tls_idp: Idp
) -> None:
    import msal  # type: ignore[import-untyped]

    location = str(tmp_path / "msal_token_cache.json")

    async def main() -> dict[str, Any]:
        app = aio.ConfidentialClientApplication(
            **tls_idp.app_kwargs(),
            token_cache=PersistedTokenCache(extensions.FilePersistence(location)),
        )
        return await app.acquire_token_for_client(tls_idp.SCOPES)

    issued = run(main())
    assert issued["token_source"] == "identity_provider"
    reader = msal.ConfidentialClientApplication(
        **tls_idp.msal_kwargs(),
        token_cache=extensions.PersistedTokenCache(extensions.FilePersistence(location)),
    )
    result = reader.acquire_token_for_client(tls_idp.SCOPES)
    assert (result["access_token"], result["token_source"]) == (issued["access_token"], "cache")
    assert tls_idp.token_posts() == 1  # the asyncio app's only


@pytest.mark.msal
def test_the_aio_cache_reads_what_msal_extensions_wrote(
    tmp_path: Path, extensions: Any, tls_idp: Idp
) -> None:
    import msal

    location = str(tmp_path / "msal_token_cache.json")
    writer = msal.ConfidentialClientApplication(
        **tls_idp.msal_kwargs(),
        token_cache=extensions.PersistedTokenCache(extensions.FilePersistence(location)),
    )
    issued = writer.acquire_token_for_client(tls_idp.SCOPES)["access_token"]

    async def main() -> dict[str, Any]:
        app = aio.ConfidentialClientApplication(
            **tls_idp.app_kwargs(),
            token_cache=PersistedTokenCache(extensions.FilePersistence(location)),
        )
        return await app.acquire_token_for_client(tls_idp.SCOPES)

    result = run(main())
    assert (result["access_token"], result["token_source"]) == (issued, "cache")
    assert tls_idp.token_posts() == 1  # msal's only
