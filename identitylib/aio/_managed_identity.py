"""Async twin of :class:`identitylib.ManagedIdentityClient`.

Both clients run the same acquisition flow (``identitylib/_managed_identity/_acquisition.py``):
here ``run_async`` drives it on the event loop, its requests sent by httpx. A plain call's
cache hit is answered by the cache lane (``identitylib/_managed_identity/_lane.py``, as the
blocking client's) on the loop, without a task or a flow; any other call runs the flow under
the single-flight: concurrent identical misses share one flow (:class:`SingleFlight`,
a joining call waiting at most one request's deadline); a token due for refresh is served
at once and refreshed in a background task. Service Fabric's certificate-pinned session
and an app's blocking ``http_client`` send each request from a worker thread instead, and
a cache whose hooks block (or a persisted ``http_cache``) has the flow's steps run in one.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping, Sequence
from typing import Any, Callable, Optional, Union

from identitylib._cache import TokenCache
from identitylib._log import get_logger
from identitylib._managed_identity._acquisition import (
    ManagedIdentityState,
    acquire_token_flow,
    check_arguments,
    check_resource,
    flight_key,
)
from identitylib._managed_identity._identities import describe_identity
from identitylib._managed_identity._lane import cache_hits, managed_identity_lane
from identitylib._managed_identity._throttle import managed_identity_throttle
from identitylib._managed_identity._transport import (
    DEFAULT_DEADLINE,
    PinnedTransports,
    Routes,
    async_transport,
    sync_transport,
    threaded,
)
from identitylib._protocol._messages import Flow
from identitylib._telemetry import BackgroundRefresh, MeasuredCalls, cache_lane
from identitylib._transport._async import AsyncTransport, ThreadedTransport, import_httpx, run_async

from ._bridge import hooks_block
from ._flight import SingleFlight

logger = get_logger(__name__)

Transport = Union[AsyncTransport, ThreadedTransport]


class ManagedIdentityClient(MeasuredCalls):
    """Acquire tokens for an Azure managed identity from asyncio code.

    Parameters as in the sync class; ``http_client`` may also be an ``httpx.AsyncClient``.
    ``background_refresh`` (default on): a cached token due for proactive refresh is
    served at once and refreshed in a background task.
    """

    _telemetry_prefix = "managed_identity."

    def __init__(
        self,
        managed_identity: Any,
        *,
        http_client: Any = None,
        token_cache: Any = None,
        http_cache: Optional[MutableMapping[Any, Any]] = None,
        client_capabilities: Optional[Sequence[str]] = None,
        background_refresh: bool = True,
    ) -> None:
        httpx = import_httpx()
        identity = describe_identity(managed_identity)
        check_arguments(http_cache, client_capabilities)
        is_async_client = isinstance(http_client, httpx.AsyncClient)
        self._async_transport: Optional[AsyncTransport] = None
        transport: Transport
        if http_client is None or is_async_client:
            transport = self._async_transport = async_transport(http_client)
        else:  # an app's blocking http_client: its requests are sent from a worker thread
            transport = threaded(sync_transport(http_client))
        self._pinned: PinnedTransports[Transport] = PinnedTransports(
            None if is_async_client else http_client, threaded
        )
        self._routes = Routes(transport, self._pinned)
        self._state = ManagedIdentityState(
            identity=identity,
            token_cache=token_cache if token_cache is not None else TokenCache(),
            throttle=managed_identity_throttle(http_cache, lambda: self._state.now()),
            client_capabilities=tuple(client_capabilities or ()),
        )
        self._hits = cache_hits(self._state)  # for the cache lane (``_lane.py``)
        self._background = background_refresh
        self._flights = self._single_flight(DEFAULT_DEADLINE)

    def _single_flight(self, limit: float) -> SingleFlight:
        """How concurrent identical calls share one flow: a :class:`SingleFlight` whose
        joining calls wait at most ``limit`` seconds (a subclass may choose otherwise)."""
        return SingleFlight(limit)

    async def aclose(self) -> None:
        """Close the httpx clients and pinned sessions identitylib made."""
        if self._async_transport is not None:
            await self._async_transport.aclose()
        self._pinned.close()

    async def __aenter__(self) -> ManagedIdentityClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def _offload(self) -> bool:
        """Whether the flow's steps run in a worker thread: its cache's hooks or its
        throttle's ``http_cache`` (maybe a ``shelve`` on disk) may block."""
        return hooks_block(self._state.token_cache) or self._state.throttle.uses_http_cache

    @cache_lane(managed_identity_lane)
    async def acquire_token_for_client(
        self, *, resource: str, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """A token for ``resource`` (see the sync method). A plain call's cache hit is
        answered by the cache lane, without a task; concurrent misses for one resource
        share one request."""
        check_resource(resource)
        source, transport = self._routes.route()
        key = flight_key(resource, claims_challenge)
        loop = asyncio.get_running_loop()

        def make_flow(defer: Optional[Callable[[], None]]) -> Flow[dict[str, Any]]:
            return acquire_token_flow(
                self._state, resource, source=source, claims_challenge=claims_challenge,
                defer_refresh=defer,
            )  # fmt: skip

        async def refresh() -> dict[str, Any]:
            return await self._run(make_flow(None), transport)

        def defer() -> None:  # called by the flow, on the loop or in an offload thread
            loop.call_soon_threadsafe(self._start_refresh, key, refresh)

        flow = make_flow(defer if self._background and key is not None else None)
        result: dict[str, Any] = await self._flights.run(key, lambda: self._run(flow, transport))
        return result

    async def _run(self, flow: Flow[dict[str, Any]], transport: Transport) -> dict[str, Any]:
        return await run_async(flow, transport, offload=self._offload())

    def _start_refresh(self, key: Any, refresh: Callable[[], Any]) -> None:
        measured = BackgroundRefresh(self)
        if self._flights.start_background(("refresh", key), lambda: measured.run_async(refresh)):
            logger.debug("Managed identity token due for refresh: refreshing in the background")

