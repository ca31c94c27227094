"""Bounded, expiring, thread-safe key/value stores for codes, device codes, RTs and jtis,
and a bounded log of events (sign-outs)."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Callable, Generic, Optional, Protocol, TypeVar

#: Default cap on the entries of one store, so a long-running emulator stays bounded.
MAX_ENTRIES = 100_000


class Expiring(Protocol):
    """A record with an absolute expiry time (epoch seconds)."""

    expires_at: float


V = TypeVar("V", bound=Expiring)
T = TypeVar("T")


class BoundedLog(Generic[T]):
    """Events in the order they happened; beyond ``max_entries`` the oldest go."""

    def __init__(self, max_entries: int = 1000) -> None:
        self._lock = threading.Lock()
        self._items: deque[T] = deque(maxlen=max_entries)

    def add(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def all(self) -> list[T]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class BoundedStore(Generic[V]):
    """Records by key. Expired records are kept ``retention`` seconds (so "expired" can be
    told apart from "unknown"), then purged lazily; beyond ``max_entries`` the oldest go.

    ``lock`` is re-entrant: hold it to read-modify-write a record atomically.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        retention: float = 3600.0,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self._retention = retention
        self._max_entries = max_entries
        self._items: OrderedDict[str, V] = OrderedDict()
        self._puts = 0
        self.lock = threading.RLock()

    def __len__(self) -> int:
        with self.lock:
            return len(self._items)

    def put(self, key: str, record: V) -> None:
        """Store (or replace) ``record`` under ``key``."""
        with self.lock:
            self._items[key] = record
            self._items.move_to_end(key)
            self._puts += 1
            if self._puts % 1024 == 0 or len(self._items) > self._max_entries:
                self._purge()
            while len(self._items) > self._max_entries:
                self._items.popitem(last=False)

    def get(self, key: str) -> Optional[V]:
        """The record under ``key`` (possibly expired but retained), or None."""
        with self.lock:
            record = self._items.get(key)
            if record is not None and self._gone(record):
                del self._items[key]
                return None
            return record

    def pop(self, key: str) -> Optional[V]:
        """Remove and return the record under ``key``."""
        with self.lock:
            return self._items.pop(key, None)

    def values(self) -> list[V]:
        """A snapshot of the live records."""
        with self.lock:
            self._purge()
            return list(self._items.values())

    def _gone(self, record: V) -> bool:
        return record.expires_at + self._retention < self._clock()

    def _purge(self) -> None:
        for key in [k for k, r in self._items.items() if self._gone(r)]:
            del self._items[key]
