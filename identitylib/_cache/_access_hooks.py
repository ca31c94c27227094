"""The access-hook machinery of ``TokenCache``: before/after callbacks, sync or async.

A base class of :class:`~identitylib._cache._token_cache.TokenCache` (so that apps and
persistence layers keep overriding ``on_before_access`` / ``on_after_access`` and their
``_async`` forms on the cache itself); the storage and lookups live in the cache class.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
    nullcontext,
)
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional, cast

from ._access import AccessHook, CacheAccess

if TYPE_CHECKING:
    from ._token_cache import TokenCache


class AccessHooks:
    """Runs the cache's ``before_access`` / ``after_access`` hooks around a use of it.

    ``_lock`` is the cache's lock (set by the cache); ``_changed_since_access`` is set by
    every write and read back by ``_state_changed`` when the access ends.
    """

    _lock: threading.RLock

    def __init__(
        self, before_access: Optional[AccessHook], after_access: Optional[AccessHook]
    ) -> None:
        self._before_access = before_access
        self._after_access = after_access
        self._changed_since_access = False
        cls = type(self)
        self._async_hooks = (
            inspect.iscoroutinefunction(before_access)
            or inspect.iscoroutinefunction(after_access)
            or cls.on_before_access_async is not AccessHooks.on_before_access_async
            or cls.on_after_access_async is not AccessHooks.on_after_access_async
        )

    @property
    def has_async_hooks(self) -> bool:
        """True when the access hooks are coroutines (the cache is for ``identitylib.aio``)."""
        return self._async_hooks

    @property
    def has_access_hooks(self) -> bool:
        """Whether an access runs hooks (callbacks given, hook methods overridden, or
        coroutine hooks); without, ``access()`` is a no-op context."""
        cls = type(self)
        return (
            self._async_hooks
            or self.has_hook_callbacks
            or cls.on_before_access is not AccessHooks.on_before_access
            or cls.on_after_access is not AccessHooks.on_after_access
        )

    @property
    def has_hook_callbacks(self) -> bool:
        """Whether a ``before_access`` or ``after_access`` callback was given."""
        return self._before_access is not None or self._after_access is not None

    async def on_before_access_async(self, access: CacheAccess) -> None:
        """Awaited before the library reads or writes (async hooks); calls ``before_access``."""
        await _call_hook(self._before_access, access)

    async def on_after_access_async(self, access: CacheAccess) -> None:
        """Awaited after the library read or wrote (async hooks); calls ``after_access``."""
        await _call_hook(self._after_access, access)

    def access_async(
        self, partition_key: str | None, client_id: str, is_app_cache: bool
    ) -> AbstractAsyncContextManager[CacheAccess | None]:
        """``access()`` for asyncio code: awaits async hooks (calls sync ones in line).

        For a cache with sync hooks the block holds the cache's thread lock, so keep it
        short and free of awaits; with async hooks it holds an ``asyncio.Lock``.
        """
        if self._async_hooks:
            from ._async_access import open_async_access  # asyncio: only when needed

            return open_async_access(self._as_cache(), partition_key, client_id, is_app_cache)
        return _sync_as_async(self.access(partition_key, client_id, is_app_cache))

    def on_before_access(self, access: CacheAccess) -> None:
        """Called before the library reads or writes; calls ``before_access``."""
        if self._before_access is not None:
            self._before_access(access)

    def on_after_access(self, access: CacheAccess) -> None:
        """Called after the library read or wrote; calls ``after_access``."""
        if self._after_access is not None:
            self._after_access(access)

    def _state_changed(self) -> bool:
        return self._changed_since_access

    def access(
        self, partition_key: str | None, client_id: str, is_app_cache: bool
    ) -> AbstractContextManager[CacheAccess | None]:
        """Hold the cache between the before- and after-access hooks.

        The lock is held throughout, so keep network calls outside the block.
        The after hook runs even if the block raises. A cache without hooks (no callbacks,
        methods not overridden) returns a no-op context: the hot path pays nothing.
        A cache with async hooks raises TypeError here, except inside one of its async
        accesses or in a worker thread of ``identitylib.aio`` (see ``_async_access.py``).
        """
        if self._async_hooks:
            from ._async_access import blocking_access  # asyncio: only when needed

            return blocking_access(self._as_cache(), partition_key, client_id, is_app_cache)
        if not self.has_access_hooks:
            return nullcontext()
        return self._hooked_access(partition_key, client_id, is_app_cache)

    @contextmanager
    def _hooked_access(
        self, partition_key: str | None, client_id: str, is_app_cache: bool
    ) -> Iterator[CacheAccess]:
        with self._lock:
            access = CacheAccess(
                cache=self._as_cache(),
                partition_key=partition_key,
                client_id=client_id,
                is_app_cache=is_app_cache,
            )
            self.on_before_access(access)
            self._changed_since_access = False
            try:
                yield access
            finally:
                self.on_after_access(replace(access, has_state_changed=self._state_changed()))

    def _as_cache(self) -> TokenCache:
        return cast("TokenCache", self)  # AccessHooks is only ever a base of TokenCache


async def _call_hook(hook: Optional[Callable[[CacheAccess], Any]], access: CacheAccess) -> None:
    if hook is not None:
        outcome = hook(access)
        if inspect.isawaitable(outcome):
            await outcome


@asynccontextmanager
async def _sync_as_async(
    context: AbstractContextManager[CacheAccess | None],
) -> AsyncIterator[CacheAccess | None]:
    with context as access:
        yield access
