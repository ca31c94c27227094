"""The transports managed-identity requests go through: configured, not subclassed.

Every source holds a secret header, is on the machine itself or link-local, and is retried
(IMDS only) by its flow. So a managed-identity transport never follows a redirect
(``requests`` and httpx would carry ``X-IDENTITY-HEADER`` or ``Secret`` wherever it points),
ignores the environment's proxy and CA settings, makes no retries of its own and throttles
nothing itself (the acquisition flow throttles whole calls, see ``_throttle.py``).
identitylib's own session or httpx client gets :data:`DEFAULT_TIMEOUT` and
:data:`DEFAULT_DEADLINE` and reads bodies as every identitylib transport does (streamed,
capped, within the deadline); an app's ``http_client`` is used as given, as in msal.

Service Fabric's endpoint is reached through a session of identitylib's own whose HTTPS
connections trust one certificate, named by its thumbprint (``_pinning.py``):
:class:`PinnedTransports` keeps one per (endpoint, thumbprint).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Generic, TypeVar

from identitylib._transport._async import AsyncTransport, ThreadedTransport
from identitylib._transport._bounds import Timeout
from identitylib._transport._policy import NO_RETRY
from identitylib._transport._sync import SyncTransport
from identitylib._transport._throttle import NoThrottle

from ._errors import ManagedIdentityError
from ._pinning import normalise_thumbprint, pin
from ._service_fabric import check_endpoint
from ._sources import ServiceFabricConfig, SourceConfig, detect, service_fabric_config

T = TypeVar("T")

#: (connect, read) seconds of identitylib's own session. The connect timeout is short so
#: that a process off Azure, where nothing answers at 169.254.169.254, fails in ~2 s.
DEFAULT_TIMEOUT: Timeout = (2.0, 15.0)

#: Seconds one managed-identity request may take in all (the body included). IMDS retries
#: are the flow's, each a request of its own with this bound (``_imds.py``). Concurrent
#: identical calls wait this long at most for the one in flight.
DEFAULT_DEADLINE = 17.0


def sync_transport(http_client: Any = None) -> SyncTransport:
    """A blocking transport for managed-identity requests (see the module docstring)."""
    return SyncTransport(
        http_client,
        timeout=DEFAULT_TIMEOUT,
        retry=NO_RETRY,
        deadline=DEFAULT_DEADLINE,
        follow_redirects=False,
        trust_env=False,
        throttle=NoThrottle(),
    )


def async_transport(http_client: Any = None) -> AsyncTransport:
    """An asyncio transport (``http_client``: None or an ``httpx.AsyncClient``)."""
    return AsyncTransport(
        http_client,
        timeout=DEFAULT_TIMEOUT,
        deadline=DEFAULT_DEADLINE,
        retry_policy=NO_RETRY,
        trust_env=False,
        follow_redirects=False,
        throttle=NoThrottle(),
    )


def pinned_transport(thumbprint: str, template: Any = None) -> SyncTransport:
    """identitylib's own session, its HTTPS connections pinned to one certificate."""
    transport = sync_transport()
    pin(transport.http_client, thumbprint, template)
    return transport


class PinnedTransports(Generic[T]):
    """One certificate-pinned transport per Service Fabric (endpoint, thumbprint).

    ``template`` is the app's ``requests.Session`` (if it gave one: it lends its headers and
    retry setting); ``wrap`` adapts the blocking transport to the client's I/O model.
    """

    def __init__(self, template: Any, wrap: Callable[[SyncTransport], T]) -> None:
        self._template = template
        self._wrap = wrap
        self._lock = threading.Lock()
        self._made: dict[tuple[str, str], tuple[SyncTransport, T]] = {}

    def get(self, config: ServiceFabricConfig) -> T:
        """The transport for ``config``; ManagedIdentityError for an unusable configuration."""
        check_endpoint(config.endpoint)
        thumbprint = normalise_thumbprint(config.thumbprint)
        key = (config.endpoint, thumbprint)
        with self._lock:
            made = self._made.get(key)
            if made is None:
                blocking = pinned_transport(thumbprint, self._template)
                made = self._made[key] = (blocking, self._wrap(blocking))
            return made[1]

    def close(self) -> None:
        """Close the sessions made."""
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for blocking, _ in made:
            blocking.close()


class Routes(Generic[T]):
    """Which source a call goes to, and the transport its requests take.

    Detection proper (:func:`~._sources.detect`, which may look for the Arc agent's file)
    runs inside the flow, on a cache miss only. Service Fabric, whose pinned transport
    must be known before the flow runs, is recognised from environment variables alone; a
    misconfigured one fails the call when it would make a request, as any source would.
    """

    def __init__(self, default: T, pinned: PinnedTransports[T]) -> None:
        self._default = default
        self._pinned = pinned

    def route(self) -> tuple[Callable[[], SourceConfig], T]:
        """(the source of this call, called on a miss; the transport for its requests)."""
        config = service_fabric_config()
        if config is None:
            return detect, self._default
        try:
            transport: T = self._pinned.get(config)
        except ManagedIdentityError as problem:
            return _failing(problem), self._default
        return (lambda: config), transport


def _failing(problem: ManagedIdentityError) -> Callable[[], SourceConfig]:
    def source() -> SourceConfig:
        raise type(problem)(*problem.args)

    return source


def threaded(transport: SyncTransport) -> ThreadedTransport:
    """A blocking transport used from asyncio: each request in a worker thread."""
    return ThreadedTransport(transport)
