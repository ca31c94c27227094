"""Where a sign-in waits between the redirect to the provider and the user's return.

A pending sign-in is the auth code flow dict (``state``, PKCE ``code_verifier``, ``nonce``,
...) plus where to send the user afterwards. It holds secrets, so it never goes into a
cookie: it is kept on the server under a random key that only the user's session knows,
for :data:`PENDING_TTL` seconds, and is taken (read and deleted at once) when the user
returns, so a sign-in response can be used once.

* :class:`MemorySignInStore`: one process; bounded, expiring.
* :class:`RedisSignInStore`: many processes behind one Redis (the user may come back to
  another one); a blocking ``redis.Redis`` and/or a ``redis.asyncio.Redis`` client.

Every store has ``put(key, value, ttl)``, ``take(key)`` and ``delete(key)``, and the same
as coroutines (``aput``, ``atake``, ``adelete``) for the asyncio adapters.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Optional, Protocol

#: Seconds a sign-in may take, from the redirect to the provider to the return.
PENDING_TTL = 600


class SignInStore(Protocol):
    """What the web operations need of a pending sign-in store."""

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None: ...
    def take(self, key: str) -> Optional[dict[str, Any]]: ...
    def delete(self, key: str) -> None: ...
    async def aput(self, key: str, value: dict[str, Any], ttl: float) -> None: ...
    async def atake(self, key: str) -> Optional[dict[str, Any]]: ...
    async def adelete(self, key: str) -> None: ...


class MemorySignInStore:
    """Pending sign-ins in this process: at most ``max_entries``, the oldest dropped first."""

    def __init__(
        self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        """Keep ``value`` under ``key`` for ``ttl`` seconds."""
        now = self._clock()
        with self._lock:
            self._entries[key] = (now + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            # Drop expired entries from the old end (cheap: stops at the first live one).
            while self._entries:
                oldest = next(iter(self._entries.values()))
                if oldest[0] > now:
                    break
                self._entries.popitem(last=False)

    def take(self, key: str) -> Optional[dict[str, Any]]:
        """The value under ``key``, removed; None when absent or expired."""
        with self._lock:
            found = self._entries.pop(key, None)
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._entries.pop(key, None)

    async def aput(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self.put(key, value, ttl)

    async def atake(self, key: str) -> Optional[dict[str, Any]]:
        return self.take(key)

    async def adelete(self, key: str) -> None:
        self.delete(key)


class RedisSignInStore:
    """Pending sign-ins in Redis, shared by every process of the app.

    ``redis`` is a blocking ``redis.Redis`` (for Flask and Django), ``aredis`` a
    ``redis.asyncio.Redis`` (for FastAPI/Starlette); give the one(s) your adapter uses.
    Values are JSON under ``{prefix}{key}`` with a Redis expiry; ``take`` is ``GETDEL``
    (Redis 6.2+), so a sign-in response is redeemed at most once across all processes.
    """

    def __init__(
        self,
        redis: Any = None,
        *,
        aredis: Any = None,
        prefix: str = "identitylib:signin:",
    ) -> None:
        if redis is None and aredis is None:
            raise ValueError("RedisSignInStore needs a redis.Redis and/or a redis.asyncio client")
        self._redis = redis
        self._aredis = aredis
        self._prefix = prefix

    def _blocking(self) -> Any:
        if self._redis is None:
            raise TypeError("this RedisSignInStore has no blocking client: pass redis=")
        return self._redis

    def _async(self) -> Any:
        if self._aredis is None:
            raise TypeError("this RedisSignInStore has no asyncio client: pass aredis=")
        return self._aredis

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self._blocking().set(self._prefix + key, json.dumps(value), ex=max(1, int(ttl)))

    def take(self, key: str) -> Optional[dict[str, Any]]:
        return _loaded(self._blocking().getdel(self._prefix + key))

    def delete(self, key: str) -> None:
        self._blocking().delete(self._prefix + key)

    async def aput(self, key: str, value: dict[str, Any], ttl: float) -> None:
        await self._async().set(self._prefix + key, json.dumps(value), ex=max(1, int(ttl)))

    async def atake(self, key: str) -> Optional[dict[str, Any]]:
        return _loaded(await self._async().getdel(self._prefix + key))

    async def adelete(self, key: str) -> None:
        await self._async().delete(self._prefix + key)


def _loaded(raw: Any) -> Optional[dict[str, Any]]:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
