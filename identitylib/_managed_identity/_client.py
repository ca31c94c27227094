"""``ManagedIdentityClient``: tokens for an Azure managed identity, cached like msal's."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, Optional

from identitylib._cache import TokenCache
from identitylib._flows._single_flight import SingleFlight, coalesced
from identitylib._telemetry import MeasuredCalls, cache_lane
from identitylib._transport._sync import SyncTransport, run_sync

from ._acquisition import (
    ManagedIdentityState,
    acquire_token_flow,
    check_arguments,
    check_resource,
    flight_key,
)
from ._identities import describe_identity
from ._lane import cache_hits, managed_identity_lane
from ._throttle import managed_identity_throttle
from ._transport import DEFAULT_DEADLINE, PinnedTransports, Routes, sync_transport


class ManagedIdentityClient(MeasuredCalls):
    """Acquire tokens for a managed identity from whichever source this machine has.

    ``managed_identity`` is a :class:`SystemAssignedManagedIdentity`, a
    :class:`UserAssignedManagedIdentity` or the equivalent dict
    (``{"ManagedIdentityIdType": "ClientId"|"ResourceId"|"ObjectId"|"SystemAssigned",
    "Id": ...}``); anything else raises :class:`ManagedIdentityError`.
    ``http_client`` is optional (msal requires it): without one identitylib uses its own
    ``requests.Session`` with a 2 s connect timeout. ``token_cache`` (a new
    ``TokenCache`` by default) may be shared with msal's ``ManagedIdentityClient``;
    ``http_cache`` keeps throttling records; ``client_capabilities`` (e.g. ``["CP1"]``)
    are sent to Service Fabric as ``xms_cc``. The constructor makes no request.
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
    ) -> None:
        identity = describe_identity(managed_identity)
        check_arguments(http_cache, client_capabilities)
        self._transport = sync_transport(http_client)
        self._pinned: PinnedTransports[SyncTransport] = PinnedTransports(
            http_client, lambda pinned: pinned
        )
        self._routes = Routes(self._transport, self._pinned)
        self._state = ManagedIdentityState(
            identity=identity,
            token_cache=token_cache if token_cache is not None else TokenCache(),
            throttle=managed_identity_throttle(http_cache, lambda: self._state.now()),
            client_capabilities=tuple(client_capabilities or ()),
        )
        self._hits = cache_hits(self._state)  # for the cache lane (``_lane.py``)
        self._flights = self._coalescing(DEFAULT_DEADLINE)

    def _coalescing(self, limit: float) -> SingleFlight:
        """How concurrent identical calls share one request: a :class:`SingleFlight` whose
        joining calls wait at most ``limit`` seconds (a subclass may choose otherwise)."""
        return SingleFlight(limit)

    @cache_lane(managed_identity_lane)
    def acquire_token_for_client(
        self, *, resource: str, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """A token for ``resource`` (an App ID URI such as ``https://management.azure.com``).

        Served from the cache while it has more than 5 minutes left and is not due for
        refresh (``refresh_on``); a due token is refreshed, and served again if the
        refresh fails. ``claims_challenge`` (from a resource's 401) skips the cache and,
        on Service Fabric, names the rejected token by its SHA-256. Concurrent identical
        calls share one request; a call waits for another's at most one request's deadline
        (17 s), then sends its own.

        Returns ``access_token``, ``expires_in``, ``token_type``, ``resource``,
        ``token_source`` (``identity_provider`` or ``cache``) and, for tokens living
        2 hours or more, ``refresh_in`` and ``refresh_on``; or an error dict. Exceptions:
        :class:`ManagedIdentityError` for a misconfigured source, and the transport's
        exceptions when the source cannot be reached and no cached token can stand in.
        """
        check_resource(resource)
        source, transport = self._routes.route()
        flow = coalesced(
            self._flights,
            flight_key(resource, claims_challenge),
            lambda: acquire_token_flow(
                self._state, resource, source=source, claims_challenge=claims_challenge
            ),
        )
        return run_sync(flow, transport, sleep=self._state.sleep)
