"""The Redis calls of a RedisTokenCache as values: its hooks are sans-I/O generators.

A *plan* (the work of one access hook) yields each Redis call it needs (:class:`Get` or
:class:`Merge`) and receives the call's result, or has the call's exception thrown in at
that ``yield``. A driver performs the calls: :func:`run_plan` with a blocking client (the
sync ``RedisTokenCache``), :func:`run_plan_async` on the event loop with a
``redis.asyncio`` client (``identitylib.aio.RedisTokenCache``). So the cache logic (first
level, merging, outages) is written once, whichever client talks to Redis.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Callable, TypeVar, Union

T = TypeVar("T")


@dataclass(frozen=True)
class Get:
    """``GET key``: the stored partition (bytes), or None when there is no such key."""

    key: str


@dataclass(frozen=True)
class Merge:
    """Run the merge script (see ``_script.py``) on ``key``; its result is the stored value.

    ``changes`` is the JSON of :meth:`Changes.payload`, ``now`` the epoch seconds that
    decide which access tokens expired, ``idle_ttl`` the lifetime of a lasting partition.
    """

    key: str
    changes: str
    now: int
    idle_ttl: int


RedisCall = Union[Get, Merge]

#: A hook's work: yields Redis calls, receives their results, returns ``T``.
Plan = Generator[RedisCall, Any, T]


def run_plan(plan: Plan[T], perform: Callable[[RedisCall], Any]) -> T:
    """Drive ``plan`` with a blocking ``perform`` (a call's exception is thrown in)."""
    try:
        call = next(plan)
        while True:
            try:
                result = perform(call)
            except Exception as error:
                call = plan.throw(error)
            else:
                call = plan.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
    finally:
        plan.close()


async def run_plan_async(plan: Plan[T], perform: Callable[[RedisCall], Any]) -> T:
    """Drive ``plan`` on the event loop, awaiting what ``perform`` returns.

    A call's exception is thrown into the plan; a cancellation is not: the plan is closed
    (its ``finally`` blocks run) and the cancellation goes on to the caller.
    """
    try:
        call = next(plan)
        while True:
            try:
                result = perform(call)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as error:
                call = plan.throw(error)
            else:
                call = plan.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
    finally:
        plan.close()
