"""``RedisTokenCache`` for ``identitylib.aio``: the Redis token cache over ``redis.asyncio``.

The same cache as the sync ``identitylib._redis.RedisTokenCache`` (partitions, first
level, merge script, outages: one implementation, whose Redis calls are values, see
``identitylib/_redis/_plan.py``), with coroutine access hooks that await a
``redis.asyncio`` client on the event loop: no worker thread, no blocking call. ``redis``
(the optional ``redis`` extra) is imported when a cache is constructed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional, TypeVar

from identitylib._cache._access import NEEDS_AIO, CacheAccess
from identitylib._redis._cache import RedisTokenCache as _SyncRedisTokenCache
from identitylib._redis._cache import client_options
from identitylib._redis._plan import run_plan_async

C = TypeVar("C", bound="RedisTokenCache")


class RedisTokenCache(_SyncRedisTokenCache):
    """A token cache kept in Redis for the ``identitylib.aio`` applications.

    It takes the sync ``RedisTokenCache``'s parameters and behaves the same way (see its
    docstring), except that ``redis`` is an asyncio client (``redis.asyncio.Redis`` or
    anything whose ``get`` and registered scripts return awaitables: a
    ``redis.asyncio.RedisCluster``, a ``redis.asyncio.Sentinel``'s ``master_for(...)``),
    and the client made from ``url`` is a ``redis.asyncio.Redis`` (``cluster=True``: a
    ``redis.asyncio.RedisCluster``) with the same timeouts and no retry beyond one
    immediate reconnection.

    Its hooks are coroutines: the aio applications await them on the event loop, one
    access of the cache at a time. The sync API refuses it (TypeError). Use an instance
    on one event loop (an asyncio client's connections belong to the loop that made
    them), and close a client it made with ``await cache.aclose()`` (or ``async with``).
    Redis errors, ``OSError`` and ``asyncio.TimeoutError`` mean an outage: the cache
    serves from memory, logs once, and retries after ``retry_interval`` seconds.
    """

    def _check_client(self, module: Any, client: Any) -> None:
        """Refuse a blocking client: its calls would stop the event loop."""
        blocking = tuple(
            kind
            for kind in (getattr(module, "Redis", None), getattr(module, "RedisCluster", None))
            if isinstance(kind, type)
        )
        if isinstance(client, blocking):
            raise TypeError(
                "identitylib.aio.RedisTokenCache needs a redis.asyncio client, not a "
                "blocking one (use identitylib's sync RedisTokenCache with that)"
            )

    def _new_client(self, module: Any, url: str, socket_timeout: float, cluster: bool) -> Any:
        """A ``redis.asyncio`` client for ``url``: ``socket_timeout``, one reconnection."""
        import redis.asyncio  # An optional dependency: imported only when used.
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        kind = redis.asyncio.RedisCluster if cluster else redis.asyncio.Redis
        return kind.from_url(url, **client_options(socket_timeout, Retry(NoBackoff(), 1)))

    def _error_types(self, module: Any) -> tuple[type[BaseException], ...]:
        """Outage errors: the sync ones, and asyncio's timeout (not an OSError before 3.11)."""
        return (*super()._error_types(module), asyncio.TimeoutError)

    # ----------------------------------------------------------- access hooks

    async def on_before_access_async(self, access: CacheAccess) -> None:
        """Make the access's partition the cache content (loading it if needed)."""
        await run_plan_async(self._before(access), self._perform)

    async def on_after_access_async(self, access: CacheAccess) -> None:
        """Write the partition's changes to Redis, then restore the previous content."""
        await run_plan_async(self._after(access), self._perform)

    def on_before_access(self, access: CacheAccess) -> None:
        """Not available: the hooks are coroutines."""
        raise TypeError(NEEDS_AIO)

    def on_after_access(self, access: CacheAccess) -> None:
        """Not available: the hooks are coroutines."""
        raise TypeError(NEEDS_AIO)

    # --------------------------------------------------------------- closing

    def close(self) -> None:
        """Not available: closing an asyncio client is a coroutine (``aclose``)."""
        raise TypeError("Close an identitylib.aio.RedisTokenCache with: await cache.aclose()")

    async def aclose(self) -> None:
        """Close the Redis client if this cache created it (never one you passed in)."""
        if not self._owns_client:
            return
        close = getattr(self.redis, "aclose", None) or getattr(self.redis, "close", None)
        if close is not None:
            await close()

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(self, *exc_info: Optional[object]) -> None:
        await self.aclose()
