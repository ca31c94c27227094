"""The web operations as generators, driven by a blocking or an asyncio driver.

A web operation (begin a sign-in, complete it, get a token for the signed-in user, sign
out, ...) is written once, as a generator that yields the calls it needs made and is sent
their results:

* :class:`AppCall`: a method of the identitylib application (``initiate_auth_code_flow``,
  ``acquire_token_silent_with_error``, ...), which is a coroutine in ``identitylib.aio``;
* :class:`StoreCall`: an operation of the pending sign-in store (in memory or Redis);
* :class:`EndSession`: the provider's end-session endpoint, which may need discovery.

:func:`run_sync` performs them with the blocking API, :func:`run_async` awaits them with
the asyncio one: the same pattern as the protocol flows and their ``run_sync`` /
``run_async`` drivers, one level up. Nothing in the operations themselves does I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar, Union

T = TypeVar("T")


@dataclass(frozen=True)
class AppCall:
    """Call ``method`` of the application with these arguments; the driver sends back its
    result (and throws its exception into the operation)."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: The B2C user flow whose application makes the call (None: the main one).
    user_flow: Optional[str] = None


@dataclass(frozen=True)
class StoreCall:
    """``put``, ``take`` or ``delete`` on the pending sign-in store."""

    operation: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class EndSession:
    """The authority's ``end_session_endpoint`` (None when the provider names none)."""


Step = Union[AppCall, StoreCall, EndSession]
WebFlow = Generator[Step, Any, T]


#: The application that performs calls for a user flow (None: the main application).
Apps = Callable[[Optional[str]], Any]


def run_sync(operation: WebFlow[T], apps: Apps, store: Any) -> T:
    """Drive ``operation`` with blocking identitylib applications and store."""
    try:
        step = next(operation)
        while True:
            try:
                value = _perform_sync(step, apps, store)
            except Exception as exc:
                step = operation.throw(exc)
            else:
                step = operation.send(value)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        operation.close()


async def run_async(operation: WebFlow[T], apps: Apps, store: Any) -> T:
    """Drive ``operation`` with ``identitylib.aio`` applications and an async store."""
    try:
        step = next(operation)
        while True:
            try:
                value = await _perform_async(step, apps, store)
            except Exception as exc:
                step = operation.throw(exc)
            else:
                step = operation.send(value)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        operation.close()


def _perform_sync(step: Step, apps: Apps, store: Any) -> Any:
    if isinstance(step, AppCall):
        return getattr(apps(step.user_flow), step.method)(*step.args, **step.kwargs)
    if isinstance(step, StoreCall):
        return getattr(store, step.operation)(*step.args)
    return apps(None).authority.end_session_endpoint


async def _perform_async(step: Step, apps: Apps, store: Any) -> Any:
    if isinstance(step, AppCall):
        return await getattr(apps(step.user_flow), step.method)(*step.args, **step.kwargs)
    if isinstance(step, StoreCall):
        return await getattr(store, "a" + step.operation)(*step.args)
    app = apps(None)
    known = app.authority.known_metadata
    if known is not None:
        return known.end_session_endpoint
    # Not discovered in this process yet: the blocking discovery runs in a worker thread.
    return await asyncio.to_thread(lambda: app.authority.end_session_endpoint)
