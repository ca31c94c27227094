"""Access hooks that are coroutines: a token cache kept in an asyncio store (Redis through
``redis.asyncio``, a file written from worker threads, a database driver of your own).

A cache has *async hooks* when its ``before_access``/``after_access`` callbacks are
coroutine functions, or when its class overrides ``on_before_access_async`` /
``on_after_access_async``. Such a cache serves the ``identitylib.aio`` applications: their
flows yield a :class:`~identitylib._protocol._messages.CacheHook` step around each use of
the cache and the asyncio driver runs :func:`open_async_access` there.

One async access of a cache is open at a time (an ``asyncio.Lock`` per cache and event
loop: the hooks of most stores swap the cache's content for one partition). Synchronous
code that calls ``TokenCache.access()`` gets:

* a no-op context inside an async access of the same cache, in the same task (the async
  access already ran the hooks);
* in a worker thread started by ``identitylib.aio`` (see :func:`bridge_to`), a context
  that runs the async access on the event loop and waits for it;
* anywhere else, :class:`TypeError`: a blocking API cannot await the hooks.

Hooks may use ``asyncio.to_thread``: the worker threads of ``identitylib.aio`` that wait
for accesses on the loop (see :func:`bridge_to`) come from a pool of their own, never
from the loop's default executor, so they cannot starve such hooks of threads.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Optional

from ._access import NEEDS_AIO, CacheAccess

if TYPE_CHECKING:
    from ._token_cache import TokenCache

#: Caches with an async access open in this context (task), innermost last.
_OPEN: ContextVar[tuple[int, ...]] = ContextVar("identitylib_open_cache_accesses", default=())
#: In a worker thread of ``identitylib.aio``: the event loop that runs async accesses.
_BRIDGE_LOOP: ContextVar[Optional[asyncio.AbstractEventLoop]] = ContextVar(
    "identitylib_cache_bridge_loop", default=None
)

_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def is_open_here(cache: Any) -> bool:
    """Whether an async access of ``cache`` is open in the current task."""
    return id(cache) in _OPEN.get()


def bridge_to(loop: asyncio.AbstractEventLoop) -> None:
    """Let blocking cache accesses in this (worker thread) context run on ``loop``."""
    _BRIDGE_LOOP.set(loop)


def access_lock(cache: TokenCache) -> asyncio.Lock:
    """The lock that keeps the async accesses of ``cache`` on the running loop apart."""
    loop = asyncio.get_running_loop()
    locks = _LOCKS.setdefault(loop, {})
    lock = locks.get(id(cache))
    if lock is None:
        lock = locks[id(cache)] = asyncio.Lock()
        weakref.finalize(cache, locks.pop, id(cache), None)
    return lock


def open_async_access(
    cache: TokenCache, partition_key: Optional[str], client_id: str, is_app_cache: bool
) -> AbstractAsyncContextManager[Optional[CacheAccess]]:
    """The async access block: the cache's lock and its awaited before/after hooks.

    Re-entrant within a task (an inner block is a no-op). The after hook runs even when
    the block raises or the task is cancelled inside it.
    """
    return _async_access(cache, partition_key, client_id, is_app_cache)


@asynccontextmanager
async def _async_access(
    cache: TokenCache, partition_key: Optional[str], client_id: str, is_app_cache: bool
) -> AsyncIterator[Optional[CacheAccess]]:
    if is_open_here(cache):
        yield None
        return
    async with access_lock(cache):
        access = CacheAccess(
            cache=cache,
            partition_key=partition_key,
            client_id=client_id,
            is_app_cache=is_app_cache,
        )
        await cache.on_before_access_async(access)
        cache._changed_since_access = False
        token = _OPEN.set((*_OPEN.get(), id(cache)))
        try:
            yield access
        finally:
            _OPEN.reset(token)
            changed = replace(access, has_state_changed=cache._state_changed())
            await cache.on_after_access_async(changed)


def blocking_access(
    cache: TokenCache, partition_key: Optional[str], client_id: str, is_app_cache: bool
) -> AbstractContextManager[Optional[CacheAccess]]:
    """``TokenCache.access()`` for a cache with async hooks (see the module docstring)."""
    if is_open_here(cache):
        return _no_op()
    loop = _BRIDGE_LOOP.get()
    if loop is None or loop.is_closed():
        raise TypeError(NEEDS_AIO)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # on the loop itself, outside any async access: cannot wait
        raise TypeError(NEEDS_AIO)
    return _bridged(cache, loop, partition_key, client_id, is_app_cache)


@contextmanager
def _no_op() -> Iterator[None]:
    yield None


@contextmanager
def _bridged(
    cache: TokenCache,
    loop: asyncio.AbstractEventLoop,
    partition_key: Optional[str],
    client_id: str,
    is_app_cache: bool,
) -> Iterator[Optional[CacheAccess]]:
    """Hold an async access open on ``loop`` while this worker thread uses the cache."""

    async def hold(entered: asyncio.Future[Optional[CacheAccess]], leave: asyncio.Event) -> None:
        try:
            async with open_async_access(cache, partition_key, client_id, is_app_cache) as a:
                entered.set_result(a)
                await leave.wait()
        except BaseException as error:
            if entered.done():
                raise  # the after hook failed: the thread gets it from _finish
            entered.set_exception(error)  # the before hook failed: the thread gets it now

    async def start() -> tuple[asyncio.Task[None], asyncio.Event, Optional[CacheAccess]]:
        entered: asyncio.Future[Optional[CacheAccess]] = loop.create_future()
        leave = asyncio.Event()
        task = loop.create_task(hold(entered, leave))
        return task, leave, await entered

    task, leave, access = asyncio.run_coroutine_threadsafe(start(), loop).result()
    # The task's context is a copy of the loop-side context: mark the access open in
    # this thread too, so nested blocking accesses of the same cache are no-ops.
    token = _OPEN.set((*_OPEN.get(), id(cache)))
    try:
        yield access
    finally:
        _OPEN.reset(token)
        loop.call_soon_threadsafe(leave.set)
        asyncio.run_coroutine_threadsafe(_finish(task), loop).result()


async def _finish(task: asyncio.Task[None]) -> None:
    await task
