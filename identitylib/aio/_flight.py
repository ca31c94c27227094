"""Single-flight and background refresh: one in-flight acquisition per key and event loop."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Hashable, Mapping
from typing import Any, Callable, Optional, TypeVar

from identitylib._log import get_logger

logger = get_logger(__name__)
T = TypeVar("T")


def freeze(value: Any) -> Hashable:
    """A hashable, order-independent form of call arguments (TypeError if impossible)."""
    if isinstance(value, Mapping):
        return ("{}", tuple(sorted((str(k), freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("[]", tuple(freeze(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(repr(freeze(v)) for v in value)))
    if value is None or isinstance(value, (str, int, float, bool, bytes)):
        return value
    hash(value)  # callables, sentinels: by identity
    return ("id", id(value))


def flight_key(*parts: Any) -> Optional[Hashable]:
    """The single-flight key of a call, or None when its arguments cannot be frozen."""
    try:
        return freeze(parts)
    except TypeError:
        return None


def _copy(value: T) -> T:
    return copy.copy(value) if isinstance(value, (dict, list)) else value


class SingleFlight:
    """Concurrent calls with the same key share one task; each caller gets its own copy.

    The shared work runs in its own task, so a caller that is cancelled does not cancel it
    for the others. Flights are kept per event loop.
    """

    def __init__(self) -> None:
        self._tasks: dict[tuple[int, Hashable], asyncio.Task[Any]] = {}

    def in_flight(self, key: Hashable) -> bool:
        """Whether work for ``key`` is running on the current loop."""
        loop = asyncio.get_running_loop()
        task = self._tasks.get((id(loop), key))
        return task is not None and not task.done() and task.get_loop() is loop

    def _start(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        existing = self._tasks.get(slot)
        if existing is not None and not existing.done() and existing.get_loop() is loop:
            return existing

        async def runner() -> T:
            return await work()

        task: asyncio.Task[T] = asyncio.ensure_future(runner())
        self._tasks[slot] = task

        def done(finished: asyncio.Task[T]) -> None:
            if self._tasks.get(slot) is finished:
                del self._tasks[slot]
            if not finished.cancelled() and finished.exception() is not None:
                logger.debug("Shared acquisition failed: %r", finished.exception())

        task.add_done_callback(done)
        return task

    async def run(self, key: Optional[Hashable], work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` or join the identical call already running."""
        if key is None:
            return await work()
        task = self._start(key, work)
        return _copy(await asyncio.shield(task))

    def start_background(self, key: Hashable, work: Callable[[], Awaitable[Any]]) -> bool:
        """Start ``work`` in the background unless work for ``key`` runs already."""
        if self.in_flight(key):
            return False
        self._start(key, work)
        return True
