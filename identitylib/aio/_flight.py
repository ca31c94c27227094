"""Single-flight and background refresh: one in-flight acquisition per key and event loop."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Hashable, Mapping
from typing import Any, Callable, Optional, TypeVar

from identitylib._log import get_logger
from identitylib._transport._bounds import DEFAULT_DEADLINE

logger = get_logger(__name__)
T = TypeVar("T")

#: Awaits an awaitable at most some seconds, raising ``asyncio.TimeoutError`` after them
#: (``asyncio.wait_for``).
AwaitWithin = Callable[[Awaitable[Any], float], Awaitable[Any]]


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

    A caller that joins work already running waits for it at most ``limit`` seconds (one
    request's deadline, see ``_transport/_bounds.py``) with ``wait_within``; then it leaves
    that work to finish on its own and runs its own ``work``, as it would have without
    coalescing.
    """

    def __init__(
        self, limit: float = DEFAULT_DEADLINE, wait_within: AwaitWithin = asyncio.wait_for
    ) -> None:
        self.limit = limit
        self._wait_within = wait_within
        self._tasks: dict[tuple[int, Hashable], asyncio.Task[Any]] = {}

    def _running(self, key: Hashable) -> Optional[asyncio.Task[Any]]:
        """The task doing the work for ``key`` on the current loop, if any."""
        loop = asyncio.get_running_loop()
        task = self._tasks.get((id(loop), key))
        if task is not None and not task.done() and task.get_loop() is loop:
            return task
        return None

    def in_flight(self, key: Hashable) -> bool:
        """Whether work for ``key`` is running on the current loop."""
        return self._running(key) is not None

    def _start(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        slot = (id(asyncio.get_running_loop()), key)

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
        running = self._running(key)
        if running is None:
            return _copy(await asyncio.shield(self._start(key, work)))
        try:
            shared: T = await self._wait_within(asyncio.shield(running), self.limit)
        except asyncio.TimeoutError:
            logger.warning(
                "An identical token request still in flight after %g s: this call sends its own",
                self.limit,
            )
            return await work()
        return _copy(shared)

    def start_background(self, key: Hashable, work: Callable[[], Awaitable[Any]]) -> bool:
        """Start ``work`` in the background unless work for ``key`` runs already."""
        if self.in_flight(key):
            return False
        self._start(key, work)
        return True
