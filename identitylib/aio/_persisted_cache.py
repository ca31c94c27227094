"""``PersistedTokenCache`` for ``identitylib.aio``: the file-persisted token cache with
coroutine access hooks, whose file I/O runs in a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Callable, Optional, TypeVar, Union

from identitylib._cache import CacheAccess
from identitylib._cache._async_access import access_lock, is_open_here
from identitylib._log import get_logger
from identitylib._persistence import DEFAULT_LOCK_TIMEOUT
from identitylib._persistence import PersistedTokenCache as _BlockingPersistedTokenCache
from identitylib._persistence._backend import PersistenceLike

logger = get_logger(__name__)
T = TypeVar("T")


class PersistedTokenCache(_BlockingPersistedTokenCache):
    """The persisted token cache of ``identitylib.PersistedTokenCache`` (same file format,
    lock, merging and failure handling; same constructor) for the ``identitylib.aio``
    applications. Its access hooks are coroutines, so the blocking API refuses it
    (``TypeError``); an aio application awaits its hooks on the event loop, one access
    of the cache at a time.

    What runs where, per access (one cache lookup, or one write of new tokens):

    * before it, in this cache's I/O thread: a ``stat`` of the file and, if another
      process changed it, the read and parse (a corrupt file is set aside there too);
    * during it, on the event loop: the lookups and the changes, in memory only (the
      changes are journaled; nothing touches the file while an access is open);
    * after it, in the I/O thread, only when something changed: the wait for the
      cross-process lock and the read-merge-write. The call returns once it is done
      (or given up after ``lock_timeout``; the changes then stay pending).

    The I/O thread is one worker thread of this cache (not the loop's default executor):
    the cache's reads and writes run in the order they were started, even when a caller
    was cancelled meanwhile, and never wait for threads busy elsewhere. The loop thread
    holds the cache's thread lock only for in-memory work, never across an ``await``,
    and never waits for it in the hooks.

    :meth:`aflush` and :meth:`areload` are the coroutine forms of ``flush()`` and
    ``reload()``. The blocking methods (``search``, ``add``, ``flush``, ``reload``)
    still work, with their blocking file I/O: call them from a thread, not the loop.
    """

    def __init__(
        self,
        persistence: PersistenceLike,
        lock_location: Optional[Union[str, os.PathLike[str]]] = None,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        super().__init__(persistence, lock_location, lock_timeout=lock_timeout)
        self._io = _io_thread()
        self._io_pid = os.getpid()

    # ------------------------------------------------------------ public extras

    @property
    def pending_changes(self) -> int:
        """How many keys changed here and are not yet in the store (read without the
        cache lock, so that the event loop never waits for a write in progress)."""
        return len(self._journal)

    async def aflush(self) -> bool:
        """Write this cache's pending changes now (see ``flush()``), in the I/O thread."""
        async with self._turn():
            return await asyncio.wrap_future(self._submit(self.flush))

    async def areload(self) -> None:
        """Read the store now if another process changed it, in the I/O thread."""
        async with self._turn():
            await asyncio.wrap_future(self._submit(self.reload))

    # ------------------------------------------------------------ access hooks

    async def on_before_access_async(self, access: CacheAccess) -> None:
        """Reload in the I/O thread if the store changed; then open the access."""
        await super().on_before_access_async(access)
        entering = self._submit(self._open_access)
        try:
            await asyncio.wrap_future(entering)
        except asyncio.CancelledError:
            # Not started yet: it never will be. Started: close it again once it is done.
            entering.add_done_callback(self._abandon_entry)
            raise

    async def on_after_access_async(self, access: CacheAccess) -> None:
        """Close the access; write its changes (if any) in the I/O thread."""
        try:
            await super().on_after_access_async(access)
        finally:
            work = self._leave()
            if work is not None:
                # Shielded: a cancelled caller must not drop a write or leave it half done.
                await asyncio.shield(asyncio.wrap_future(self._submit(work)))

    # -------------------------------------------------------------- machinery

    def _leave(self) -> Optional[Callable[[], None]]:
        """Close an access without waiting; returns what is left for the I/O thread.

        Never waits for the cache lock: when another thread holds it, the whole closing
        is left to the I/O thread.
        """
        if not self._lock.acquire(blocking=False):
            return self._close_access
        try:
            self._depth -= 1
            due = self._depth == 0 and bool(self._journal)
        finally:
            self._lock.release()
        return self._write_if_idle if due else None

    def _abandon_entry(self, entering: Future[None]) -> None:
        """Done callback of an access entry whose caller was cancelled."""
        if entering.cancelled() or entering.exception() is not None:
            return  # The access was not opened.
        work = self._leave()
        if work is None:
            return
        try:
            self._submit(work).add_done_callback(_log_failure)
        except RuntimeError:  # The interpreter is exiting: no new threads.
            logger.debug("A cancelled token cache access could not be closed at exit")

    def _submit(self, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` in this cache's I/O thread (with a copy of the current context)."""
        if self._io_pid != os.getpid():  # A forked child: the parent's thread is not here.
            self._io, self._io_pid = _io_thread(), os.getpid()
        context = contextvars.copy_context()
        return self._io.submit(context.run, work)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Keep the async accesses of other tasks out while the block runs."""
        if is_open_here(self):
            yield
            return
        async with access_lock(self):
            yield


def _io_thread() -> ThreadPoolExecutor:
    """A cache's I/O thread (started at its first use, ended when the cache is freed)."""
    return ThreadPoolExecutor(1, thread_name_prefix="identitylib-cache-io")


def _log_failure(done: Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning(
            "Could not write the token cache after a cancelled access", exc_info=done.exception()
        )
