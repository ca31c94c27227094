"""How the async classes reuse the sync ones: the same methods build the same flows.

A sync application object's methods validate their arguments, build a flow and hand it to
``self._run``. The sync cores below override ``_run``:

* on the event loop thread it raises :class:`Captured` with the flow, which the async
  method then drives with :func:`~identitylib._transport._async.run_async`;
* in a worker thread started by :func:`call_in_thread` (interactive sign-in, whose
  loopback listener blocks, and composite methods) it hands the flow to the event loop and
  waits for its result, so every request is still sent by the asyncio transport.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from contextvars import ContextVar
from typing import Any, Callable, Generic, Optional, TypeVar, Union

from identitylib._application import ConfidentialClientApplication as SyncConfidential
from identitylib._application import PublicClientApplication as SyncPublic
from identitylib._authority import TrustKey
from identitylib._cache._async_access import bridge_to
from identitylib._cache._own import own_cache
from identitylib._flows._single_flight import NO_COALESCING, Coalescing
from identitylib._protocol._messages import Flow

T = TypeVar("T")

#: In a worker thread of :func:`call_in_thread`: runs a flow on the event loop.
BRIDGE: ContextVar[Optional[Callable[[Flow[Any]], Any]]] = ContextVar(
    "identitylib_aio_bridge", default=None
)


class Captured(BaseException):
    """Carries the flow a sync method built out of it (a BaseException: never swallowed)."""

    def __init__(self, flow: Flow[Any]) -> None:
        super().__init__("flow captured")
        self.flow = flow


class Returned(Generic[T]):
    """A sync method returned without running a flow (e.g. silent with no account)."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


#: Schedules a background refresh on the event loop: (the sync layer's key, make_flow).
Scheduler = Callable[[Hashable, Callable[[], Flow[Any]]], None]


class CapturingRun:
    """Mixin overriding ``_run`` of a sync application class (see the module docstring),
    and ``_deferred_refresh``: a token in its refresh window is served at once by the
    flow, which calls back to start the refresh as an asyncio task (not a thread)."""

    _aio_scheduler: Optional[Scheduler] = None

    def __init__(self, *args: Any, trust: TrustKey, **kwargs: Any) -> None:
        """``trust``: the trust key of the asyncio app's transport (its httpx client is
        not the sync core's ``http_client``); the sync class's arguments follow."""
        self._aio_trust = trust
        super().__init__(*args, **kwargs)

    def _trust_key(self, http_client: Any, verify: Any, proxies: Any) -> TrustKey:
        return self._aio_trust

    def _coalescing(self, limit: float) -> Coalescing:
        """No coalescing here: the blocking single-flight waits on a ``threading.Event`` inside the
        flow, which would block the event loop; the asyncio application coalesces on it."""
        return NO_COALESCING

    def _deferred_refresh(
        self, key: Optional[Hashable], make_flow: Callable[[], Flow[Any]]
    ) -> Optional[Callable[[], None]]:
        scheduler = self._aio_scheduler
        if scheduler is None or key is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread of call_in_thread: refresh in line
            return None

        def start() -> None:  # called by the flow, on the loop or in an offload thread
            loop.call_soon_threadsafe(scheduler, key, make_flow)

        return start

    def _run(self, flow: Flow[T]) -> T:
        bridge = BRIDGE.get()
        if bridge is not None:
            result: T = bridge(flow)
            return result
        raise Captured(flow)


class SyncPublicCore(CapturingRun, SyncPublic):
    """The sync public client the async one delegates validation and flow building to."""


class SyncConfidentialCore(CapturingRun, SyncConfidential):
    """The sync confidential client the async one delegates to."""


def capture(
    method: Callable[..., Any], *args: Any, **kwargs: Any
) -> Union[Flow[Any], Returned[Any]]:
    """Call a sync method; return the flow it would run, or what it returned without one."""
    try:
        value = method(*args, **kwargs)
    except Captured as captured:
        return captured.flow
    return Returned(value)


async def call_in_thread(
    run_flow: Callable[[Flow[Any]], Coroutine[Any, Any, Any]],
    method: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run a whole sync method in a worker thread; its flows run on this event loop."""
    loop = asyncio.get_running_loop()

    def bridge(flow: Flow[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(run_flow(flow), loop).result()

    def work() -> T:
        BRIDGE.set(bridge)  # in the worker's own copy of the context
        bridge_to(loop)  # cache accesses with coroutine hooks run on the loop too
        return method(*args, **kwargs)

    return await in_worker(work)


#: Threads that run sync methods and wait for the event loop (see :func:`in_worker`).
WORKERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="identitylib-aio")


async def in_worker(work: Callable[[], T]) -> T:
    """Run ``work`` in a thread of :data:`WORKERS`, with a copy of this context.

    Not the loop's default executor: these threads wait for work on the event loop (token
    requests, cache hooks), and that work may itself need the default executor
    (``asyncio.to_thread`` in a cache hook); sharing it could deadlock.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(WORKERS, context.run, work)


def hooks_block(cache: Any) -> bool:
    """Whether the cache's access hooks may block (persisted, Redis, custom sync hooks).

    A :class:`~identitylib.TokenCache` without hooks answers ``access()`` with a no-op
    context; a foreign cache (msal's, a mock) is never asked for hooks (see
    ``identitylib/_cache/_own.py``); coroutine hooks are awaited on the loop.
    """
    own = own_cache(cache)
    if own is None or own.has_async_hooks:
        return False
    try:
        context = own.access(None, "", False)
    except Exception:
        return True
    return not isinstance(context, nullcontext)
