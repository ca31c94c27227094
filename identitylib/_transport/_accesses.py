"""The cache accesses a driver holds open for one flow, opened and closed at its
:class:`~identitylib._protocol._messages.CacheHook` steps.

A blocking access (sync hooks: a persisted cache's file lock, a Redis round trip) holds
the cache's re-entrant thread lock from :meth:`OpenAccesses.enter` to
:meth:`OpenAccesses.exit_last`: a driver calls both in one thread, the one that runs the
flow's steps in between. An access with coroutine hooks is awaited on the event loop
(:meth:`OpenAccesses.enter_async`, :meth:`OpenAccesses.exit_last_async`).

Opening an access and keeping it happen in one call, so an access opened by a call whose
caller was cancelled meanwhile is still known, and closed, when the driver winds up.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Union

from identitylib._cache._access import NEEDS_AIO
from identitylib._cache._own import has_async_hooks
from identitylib._protocol._messages import CacheHook

_Access = Union[AbstractContextManager[Any], AbstractAsyncContextManager[Any]]


class OpenAccesses:
    """The accesses open for one flow, innermost last."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: list[_Access] = []

    def __bool__(self) -> bool:
        return bool(self._open)

    def enter(self, step: CacheHook) -> None:
        """Open the blocking access ``step`` asks for, in the calling thread, and keep it.

        A cache whose hooks are coroutines cannot be opened so: :class:`TypeError`.
        """
        if has_async_hooks(step.cache):
            raise TypeError(NEEDS_AIO)
        access = step.cache.access(step.partition_key, step.client_id, step.is_app_cache)
        access.__enter__()
        self._open.append(access)

    async def enter_async(self, step: CacheHook) -> None:
        """Open the access of a cache with coroutine hooks, on the event loop, and keep it."""
        access = step.cache.access_async(step.partition_key, step.client_id, step.is_app_cache)
        await access.__aenter__()
        self._open.append(access)

    def innermost_is_async(self) -> bool:
        """Whether the innermost open access is awaited (:meth:`exit_last_async`)."""
        return isinstance(self._open[-1], AbstractAsyncContextManager)

    def exit_last(self) -> None:
        """Close the innermost access, a blocking one (in the thread that opened it)."""
        access = self._open.pop()
        assert isinstance(access, AbstractContextManager)
        access.__exit__(None, None, None)

    async def exit_last_async(self) -> None:
        """Close the innermost access, one with coroutine hooks."""
        access = self._open.pop()
        assert isinstance(access, AbstractAsyncContextManager)
        await access.__aexit__(None, None, None)

    def exit_all(self) -> None:
        """Close every open (blocking) access, innermost first."""
        while self._open:
            self.exit_last()
