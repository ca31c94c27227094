"""What a public application method does, as a value both APIs run.

Each method of the application classes has a builder that checks its arguments and
returns a :data:`Plan`: an :class:`Answer` known without I/O (e.g. from the cache-hit
memo), or a :class:`Call`, the flow to run plus what turns its result into the method's
return value. The blocking class runs a call with ``run_sync``, the asyncio class with
``run_async``; both then apply ``finish``. Neither API re-implements the other.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass
from typing import Any, Final, Generic, Optional, TypeVar, Union, overload

from identitylib._protocol._messages import Flow

T = TypeVar("T")
R = TypeVar("R")

#: What a flow calls to have a token inside its refresh window refreshed in the
#: background (None: the flow refreshes in line).
Defer = Optional[Callable[[], None]]


@dataclass(frozen=True)
class Answer(Generic[R]):
    """A method's return value, known without any I/O."""

    value: R


def as_is(result: Any) -> Any:
    """The result itself (a call's ``finish`` when it has none of its own)."""
    return result


class Call(Generic[T, R]):
    """A flow to run and what turns its result into the method's return value.

    ``make_flow(defer)`` builds the flow (a call with a ``key`` builds a fresh one each
    time it is asked); ``finish`` is applied to the flow's result, an error dict included.
    Concurrent calls with the same ``key`` share their I/O; None never shares.

    Its fields are slots, set once by ``__init__`` and final (mypy refuses an
    assignment): a builder makes one per call that needs I/O, and a frozen dataclass's
    fields are set through ``object.__setattr__`` (a ``__dict__`` of their own).
    """

    __slots__ = ("finish", "key", "make_flow")

    def __init__(
        self,
        make_flow: Callable[[Defer], Flow[T]],
        finish: Callable[[T], R] = as_is,
        key: Optional[Hashable] = None,
    ) -> None:
        self.make_flow: Final[Callable[[Defer], Flow[T]]] = make_flow
        self.finish: Final[Callable[[T], R]] = finish
        self.key: Final[Optional[Hashable]] = key

    def background_flow(self) -> Flow[T]:
        """The flow a background refresh runs: the same call, refreshing in line."""
        return self.make_flow(None)


#: A builder's answer: see the module docstring.
Plan = Union[Answer[R], Call[Any, R]]


@overload
def run(flow: Flow[T]) -> Call[T, T]: ...
@overload
def run(flow: Flow[T], finish: Callable[[T], R]) -> Call[T, R]: ...
def run(flow: Flow[T], finish: Callable[[T], Any] = as_is) -> Call[T, Any]:
    """The call that runs ``flow`` once (never shared) and returns ``finish(result)``."""
    return Call(lambda _defer: flow, finish)


def then(plan: Plan[T], finish: Callable[[T], R]) -> Plan[R]:
    """``plan``, its return value passed through ``finish``."""
    if isinstance(plan, Answer):
        return Answer(finish(plan.value))
    first = plan.finish
    return Call(plan.make_flow, lambda result: finish(first(result)), plan.key)


@dataclass(frozen=True)
class Blocking:
    """A step of :data:`Steps` that blocks (a browser sign-in, a caller's callback): run
    in line by the blocking API, in a worker thread by the asyncio API."""

    work: Callable[[], Any]


#: A method made of several calls (interactive sign-in, ``acquire_token``): a generator
#: that yields each :data:`Plan` or :class:`Blocking` step, receives its return value,
#: and returns the method's. Closing it releases what it holds (a loopback listener).
Steps = Generator[Union[Answer[Any], Call[Any, Any], Blocking], Any, R]
