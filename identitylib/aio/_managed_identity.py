"""Async twin of :class:`identitylib.ManagedIdentityClient`.

The sync client's source detection, flows, throttling, caching and per-resource locking are
reused as they are: a cache hit is answered on the event loop; anything else runs the sync
``acquire_token_for_client`` in a worker thread whose requests are sent by an httpx
client on the event loop (Service Fabric's certificate-pinned session and an app's
blocking ``http_client`` send from that worker thread instead).
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping, Sequence
from contextvars import ContextVar
from typing import Any, Optional

from identitylib._cache._async_access import bridge_to
from identitylib._cache._own import has_async_hooks
from identitylib._flows._shaping import cache_hit_result
from identitylib._managed_identity import ManagedIdentityClient as SyncManagedIdentityClient
from identitylib._managed_identity._transport import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    ManagedIdentityTransport,
)
from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._telemetry import MeasuredCalls
from identitylib._transport._async import AsyncTransport, import_httpx
from identitylib._transport._policy import NO_RETRY
from identitylib._transport._throttle import NoThrottle

from ._bridge import hooks_block, in_worker
from ._flight import SingleFlight

#: The event loop that the worker thread of one acquisition sends its requests on.
_LOOP: ContextVar[Optional[asyncio.AbstractEventLoop]] = ContextVar(
    "identitylib_aio_mi_loop", default=None
)


class _LoopTransport(ManagedIdentityTransport):
    """Used by the sync client in a worker thread: sends each request on the event loop."""

    def __init__(self, transport: AsyncTransport) -> None:
        super().__init__(None)
        self._async = transport

    def send(self, request: HttpRequest) -> HttpResponse:
        loop = _LOOP.get()
        if loop is None:
            raise RuntimeError("identitylib.aio.ManagedIdentityClient used outside its event loop")
        return asyncio.run_coroutine_threadsafe(self._async.send(request), loop).result()


class ManagedIdentityClient(MeasuredCalls):
    """Acquire tokens for an Azure managed identity from asyncio code.

    Parameters as in the sync class; ``http_client`` may also be an ``httpx.AsyncClient``.
    ``background_refresh`` (default on): a cached token due for proactive refresh is
    served at once and refreshed in a background task.
    """

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
        is_async_client = isinstance(http_client, httpx.AsyncClient)
        self._client = SyncManagedIdentityClient(
            managed_identity,
            http_client=None if is_async_client else http_client,
            token_cache=token_cache,
            http_cache=http_cache,
            client_capabilities=client_capabilities,
        )
        self._async_transport: Optional[AsyncTransport] = None
        if http_client is None or is_async_client:
            self._async_transport = AsyncTransport(
                http_client,
                timeout=DEFAULT_TIMEOUT,
                deadline=DEFAULT_DEADLINE,
                retry_policy=NO_RETRY,  # IMDS retries are the flow's business
                trust_env=False,  # every source is on the machine or link-local
                follow_redirects=False,  # never carry a secret header elsewhere
                throttle=NoThrottle(),  # the client throttles per source itself
            )
            self._client._transport = _LoopTransport(self._async_transport)
        self._background = background_refresh
        self._flights = SingleFlight()

    _telemetry_prefix = "managed_identity."

    async def aclose(self) -> None:
        """Close the httpx clients identitylib made."""
        if self._async_transport is not None:
            await self._async_transport.aclose()

    async def __aenter__(self) -> ManagedIdentityClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def _in_thread(self, resource: Any, claims_challenge: Optional[str]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()

        def work() -> dict[str, Any]:
            _LOOP.set(loop)
            bridge_to(loop)  # cache accesses with coroutine hooks run on the loop
            return self._client.acquire_token_for_client(
                resource=resource, claims_challenge=claims_challenge
            )

        return await in_worker(work)

    async def acquire_token_for_client(
        self, *, resource: str, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """A token for ``resource`` (see the sync method). A cache hit is answered at once;
        concurrent misses for one resource share one request."""
        client = self._client
        if isinstance(resource, str) and resource.strip() and not claims_challenge:
            now = client._now()
            cache = client._token_cache
            if has_async_hooks(cache):
                partition, client_id = client._cache_partition()
                async with cache.access_async(partition, client_id, True):
                    entry, refresh_due = client._lookup(resource, now)
            elif hooks_block(cache):
                entry, refresh_due = await asyncio.to_thread(client._lookup, resource, now)
            else:
                entry, refresh_due = client._lookup(resource, now)
            if entry is not None and (not refresh_due or self._background):
                if refresh_due:
                    self._flights.start_background(
                        ("mi", resource, None), lambda: self._in_thread(resource, None)
                    )
                return cache_hit_result(entry, now)
        key = ("mi", resource if isinstance(resource, str) else id(resource), claims_challenge)
        result: dict[str, Any] = await self._flights.run(
            key, lambda: self._in_thread(resource, claims_challenge)
        )
        return result
