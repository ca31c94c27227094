"""Every access of a cache with hooks is a step the driver performs (issue #17).

The flow yields ``CacheHook`` steps around its lookups and writes; ``run_sync`` runs the
hooks in its thread, ``run_async`` with ``offload`` in the one worker thread of the run,
so a blocking access takes and releases the cache's lock in one thread.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from identitylib import TokenCache
from identitylib._cache import CacheAccess
from identitylib._flows._cache_hooks import in_cache
from identitylib._protocol._messages import WAITED, CacheHook, Flow, HttpResponse, Step
from identitylib._transport._async import run_async
from identitylib._transport._sync import SyncTransport, run_sync


class Hooks:
    """Sync access hooks that record what ran, and in which thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def before(self, access: CacheAccess) -> None:
        self.events.append(("before", threading.get_ident()))

    def after(self, access: CacheAccess) -> None:
        self.events.append(("after", threading.get_ident()))

    def cache(self) -> TokenCache:
        return TokenCache(before_access=self.before, after_access=self.after)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def threads(self) -> set[int]:
        return {thread for _, thread in self.events}


class AsyncNoRequests:
    """An asyncio transport for flows that make no request."""

    async def send(self, request: Any) -> HttpResponse:
        raise AssertionError(f"unexpected request {request!r}")


def lock_is_free(cache: TokenCache) -> bool:
    """Whether another thread can take the cache's lock right now (no waiting)."""

    def try_lock() -> bool:
        taken = cache._lock.acquire(blocking=False)
        if taken:
            cache._lock.release()
        return taken

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(try_lock).result()


def test_a_hooked_cache_access_is_yielded_as_steps_not_run_by_the_flow() -> None:
    hooks = Hooks()
    cache = hooks.cache()

    def work() -> str:
        hooks.events.append(("work", threading.get_ident()))
        return "done"

    flow = in_cache(cache, "partition", "client", False, work)
    steps: list[Step] = [next(flow), flow.send(WAITED)]
    with pytest.raises(StopIteration) as stop:
        flow.send(WAITED)
    assert stop.value.value == "done"
    assert [(type(s), getattr(s, "entering", None)) for s in steps] == [
        (CacheHook, True),
        (CacheHook, False),
    ]
    assert hooks.names() == ["work"]  # the flow ran no hook itself


def test_a_plain_in_memory_cache_is_used_in_line() -> None:
    flow = in_cache(TokenCache(), None, "client", False, lambda: 42)
    with pytest.raises(StopIteration) as stop:
        next(flow)
    assert stop.value.value == 42


def test_run_sync_performs_the_hooks_around_the_work_in_its_thread() -> None:
    hooks = Hooks()
    cache = hooks.cache()

    def work() -> None:
        assert not lock_is_free(cache)  # the access holds the lock around the work
        hooks.events.append(("work", threading.get_ident()))

    run_sync(in_cache(cache, "p", "c", False, work), SyncTransport())
    assert hooks.names() == ["before", "work", "after"]
    assert hooks.threads() == {threading.get_ident()}
    assert lock_is_free(cache)


def test_run_sync_closes_the_access_when_the_work_fails() -> None:
    hooks = Hooks()
    cache = hooks.cache()

    def work() -> None:
        raise LookupError("broken")

    with pytest.raises(LookupError):
        run_sync(in_cache(cache, "p", "c", False, work), SyncTransport())
    assert hooks.names() == ["before", "after"]
    assert lock_is_free(cache)


def test_run_sync_closes_an_access_the_flow_left_open() -> None:
    hooks = Hooks()
    cache = hooks.cache()

    def flow() -> Flow[None]:
        yield CacheHook(cache, "p", "c", False, entering=True)
        raise LookupError("ended inside the access")

    with pytest.raises(LookupError):
        run_sync(flow(), SyncTransport())
    assert hooks.names() == ["before", "after"]
    assert lock_is_free(cache)


def test_offloaded_hooks_and_work_run_in_one_worker_thread() -> None:
    hooks = Hooks()
    cache = hooks.cache()

    def flow() -> Flow[None]:
        yield CacheHook(cache, "p", "c", False, entering=True)
        hooks.events.append(("work", threading.get_ident()))
        yield CacheHook(cache, "p", "c", False, entering=False)

    async def main() -> int:
        await run_async(flow(), AsyncNoRequests(), offload=True)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert hooks.names() == ["before", "work", "after"]
    assert len(hooks.threads()) == 1
    assert loop_thread not in hooks.threads()
    assert lock_is_free(cache)


def test_run_async_without_offload_runs_sync_hooks_on_the_loop() -> None:
    hooks = Hooks()
    cache = hooks.cache()

    async def main() -> int:
        await run_async(in_cache(cache, "p", "c", False, lambda: None), AsyncNoRequests())
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert hooks.names() == ["before", "after"]
    assert hooks.threads() == {loop_thread}


def test_a_flow_cancelled_inside_an_offloaded_access_releases_the_lock() -> None:
    hooks = Hooks()
    cache = hooks.cache()
    release = threading.Event()
    closed: list[bool] = []

    def flow(started: asyncio.Event, loop: asyncio.AbstractEventLoop) -> Flow[None]:
        yield CacheHook(cache, "p", "c", False, entering=True)
        hooks.events.append(("work started", threading.get_ident()))
        loop.call_soon_threadsafe(started.set)
        assert release.wait(timeout=30)  # bounded: the test sets it
        hooks.events.append(("work ended", threading.get_ident()))
        try:
            yield CacheHook(cache, "p", "c", False, entering=False)
        except GeneratorExit:  # closed there: the driver never saw this step
            closed.append(True)
            raise

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(
            run_async(flow(started, asyncio.get_running_loop()), AsyncNoRequests(), offload=True)
        )
        await started.wait()
        task.cancel()
        for _ in range(20):  # let the cancellation reach the driver
            await asyncio.sleep(0)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    # The step in progress finished, its access was closed in the thread that opened it
    # (after the work, never under it), and the flow was closed.
    assert hooks.names() == ["before", "work started", "work ended", "after"]
    assert len(hooks.threads()) == 1
    assert closed == [True]
    assert lock_is_free(cache)
