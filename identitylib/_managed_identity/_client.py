"""``ManagedIdentityClient``: tokens for an Azure managed identity, cached like msal's."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import MutableMapping, Sequence
from typing import Any, Callable, Optional

from identitylib._cache import TokenCache, app_partition_key
from identitylib._flows._cache_hooks import cache_access
from identitylib._flows._lookups import find_access_token
from identitylib._flows._refresh_reason import note_refresh_reason
from identitylib._flows._shaping import cache_hit_result
from identitylib._log import get_logger
from identitylib._protocol._messages import Flow, HttpRequest
from identitylib._telemetry import MeasuredCalls, note_managed_identity_source
from identitylib._transport._sync import run_sync

from ._app_service import app_service_flow, app_service_request
from ._arc import arc_flow, arc_request
from ._cloud_shell import cloud_shell_flow, cloud_shell_request
from ._context import FlowContext, ImdsState
from ._identities import SYSTEM_ASSIGNED_CACHE_ID, describe_identity
from ._imds import imds_flow, imds_request
from ._machine_learning import machine_learning_flow, machine_learning_request
from ._pinning import normalise_thumbprint, pinned_session
from ._response import Outcome
from ._retry import DEFAULT_IMDS_RETRY, RetryPolicy
from ._service_fabric import check_endpoint, service_fabric_flow, service_fabric_request
from ._sources import (
    AppServiceConfig,
    ArcConfig,
    CloudShellConfig,
    MachineLearningConfig,
    ServiceFabricConfig,
    SourceConfig,
    detect,
)
from ._throttle import Throttle, request_key
from ._transport import ManagedIdentityTransport

logger = get_logger(__name__)

#: Cache ``environment`` and ``realm`` of every managed-identity token (msal's values).
ENVIRONMENT = "localhost"
REALM = "managed_identity"
TOKEN_ENDPOINT = f"https://{ENVIRONMENT}/{REALM}"
#: Tokens living at least this long get ``refresh_in`` = half their lifetime.
REFRESH_HALFWAY_MIN_LIFETIME = 7200


def _flow_for(config: SourceConfig, ctx: FlowContext) -> tuple[Flow[Outcome], HttpRequest]:
    """The source's flow and its first request (which keys throttling)."""
    if isinstance(config, ServiceFabricConfig):
        return service_fabric_flow(config, ctx), service_fabric_request(config, ctx)
    if isinstance(config, AppServiceConfig):
        return app_service_flow(config, ctx), app_service_request(config, ctx)
    if isinstance(config, MachineLearningConfig):
        return machine_learning_flow(config, ctx), machine_learning_request(config, ctx)
    if isinstance(config, ArcConfig):
        return arc_flow(config, ctx), arc_request(config, ctx)
    if isinstance(config, CloudShellConfig):
        return cloud_shell_flow(config, ctx), cloud_shell_request(config, ctx)
    return imds_flow(config, ctx), imds_request(config, ctx)


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
        self._identity = describe_identity(managed_identity)
        self._managed_identity = managed_identity
        if http_cache is not None and not isinstance(http_cache, MutableMapping):
            raise TypeError("http_cache must be a dict-like object (e.g. a dict or a shelve)")
        if isinstance(client_capabilities, str):
            raise TypeError('client_capabilities must be a list of strings, e.g. ["CP1"]')
        self._http_client = http_client
        self._transport = ManagedIdentityTransport(http_client)
        self._token_cache = token_cache if token_cache is not None else TokenCache()
        self._throttle = Throttle(http_cache)
        self._client_capabilities = tuple(client_capabilities or ())
        self._imds_state = ImdsState()
        self._imds_retry: RetryPolicy = DEFAULT_IMDS_RETRY
        self._pinned: dict[tuple[str, str], ManagedIdentityTransport] = {}
        self._lock = threading.Lock()
        self._flights: dict[Any, threading.Lock] = {}
        self._now: Callable[[], float] = time.time
        self._sleep: Callable[[float], None] = time.sleep  # between IMDS retries

    # ------------------------------------------------------------------ public

    def acquire_token_for_client(
        self, *, resource: str, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """A token for ``resource`` (an App ID URI such as ``https://management.azure.com``).

        Served from the cache while it has more than 5 minutes left and is not due for
        refresh (``refresh_on``); a due token is refreshed, and served again if the
        refresh fails. ``claims_challenge`` (from a resource's 401) skips the cache and,
        on Service Fabric, names the rejected token by its SHA-256.

        Returns ``access_token``, ``expires_in``, ``token_type``, ``resource``,
        ``token_source`` (``identity_provider`` or ``cache``) and, for tokens living
        2 hours or more, ``refresh_in`` and ``refresh_on``; or an error dict. Exceptions:
        :class:`ManagedIdentityError` for a misconfigured source, and the transport's
        exceptions when the source cannot be reached and no cached token can stand in.
        """
        if not isinstance(resource, str) or not resource.strip():
            raise ValueError(
                "resource must be a non-empty string, e.g. https://management.azure.com"
            )
        if not claims_challenge:
            now = self._now()
            entry, refresh_due = self._lookup(resource, now)
            if entry is not None and not refresh_due:
                logger.debug("Managed identity token served from the cache")
                return cache_hit_result(entry, now)
        config = detect()
        key = (self._identity.cache_client_id, resource, bool(claims_challenge))
        with self._flight_lock(key):  # concurrent misses wait for one request, then hit
            now = self._now()
            entry, refresh_due = self._lookup(resource, now)
            to_refresh: Optional[str] = None
            if claims_challenge:
                if entry is not None:
                    to_refresh = hashlib.sha256(str(entry["secret"]).encode("utf-8")).hexdigest()
                entry = None  # the challenged token must not be served again
            elif entry is not None and not refresh_due:
                logger.debug("Managed identity token served from the cache")
                return cache_hit_result(entry, now)
            return self._obtain(config, resource, now, entry, claims_challenge, to_refresh)

    # ----------------------------------------------------------------- helpers

    def _flight_lock(self, key: Any) -> threading.Lock:
        """One lock per (identity, resource): concurrent misses make one request."""
        with self._lock:
            lock = self._flights.get(key)
            if lock is None:
                lock = self._flights[key] = threading.Lock()
            return lock

    def _query(self) -> dict[str, Any]:
        return {
            "client_id": self._identity.cache_client_id,
            "environment": ENVIRONMENT,
            "realm": REALM,
            "home_account_id": None,
        }

    def _cache_partition(self) -> tuple[str, str]:
        """The (partition key, client id) the cache's access hooks are told of."""
        client_id = self._identity.cache_client_id or SYSTEM_ASSIGNED_CACHE_ID
        return app_partition_key(client_id, REALM), client_id

    def _cache_access(self) -> Any:
        partition, client_id = self._cache_partition()
        return cache_access(self._token_cache, partition, client_id, is_app_cache=True)

    def _lookup(self, resource: str, now: float) -> tuple[Optional[dict[str, Any]], bool]:
        with self._cache_access():
            return find_access_token(self._token_cache, [resource], self._query(), now)

    def _transport_for(self, config: SourceConfig) -> ManagedIdentityTransport:
        if not isinstance(config, ServiceFabricConfig):
            return self._transport
        check_endpoint(config.endpoint)
        thumbprint = normalise_thumbprint(config.thumbprint)
        key = (config.endpoint, thumbprint)
        with self._lock:
            transport = self._pinned.get(key)
            if transport is None:
                session = pinned_session(thumbprint, self._http_client)
                transport = ManagedIdentityTransport(session, owned=True)
                self._pinned[key] = transport
            return transport

    def _context(
        self, resource: str, claims_challenge: Optional[str], to_refresh: Optional[str]
    ) -> FlowContext:
        return FlowContext(
            identity=self._identity,
            resource=resource,
            claims_challenge=claims_challenge,
            token_sha256_to_refresh=to_refresh,
            client_capabilities=self._client_capabilities,
            imds_retry=self._imds_retry,
            imds_state=self._imds_state,
            now=self._now,
        )

    def _obtain(
        self,
        config: SourceConfig,
        resource: str,
        now: float,
        fallback: Optional[dict[str, Any]],
        claims_challenge: Optional[str],
        to_refresh: Optional[str],
    ) -> dict[str, Any]:
        ctx = self._context(resource, claims_challenge, to_refresh)
        note_managed_identity_source(config.source.name)
        note_refresh_reason(fallback, claims_challenge)
        try:
            transport = self._transport_for(config)
            flow, first_request = _flow_for(config, ctx)
            key = request_key(first_request)
            throttled = self._throttle.get(key, now)
            if throttled is not None:
                flow.close()
                logger.info("Managed identity request throttled locally: %s", throttled["error"])
                return self._fallback_or(fallback, now, throttled)
            logger.debug(
                "Requesting a managed identity token from %s (%s)",
                config.source.name,
                self._identity.describe(),
            )
            outcome = run_sync(flow, transport, sleep=self._sleep)
        except Exception:
            if fallback is None:
                raise
            logger.warning("Managed identity refresh failed; serving the cached token",
                           exc_info=True)  # fmt: skip
            return cache_hit_result(fallback, now)
        self._throttle.remember(key, outcome, self._now())
        result = outcome.result
        if "access_token" not in result:
            return self._fallback_or(fallback, now, result)
        return self._store(result, resource, now)

    def _fallback_or(
        self, fallback: Optional[dict[str, Any]], now: float, error: dict[str, Any]
    ) -> dict[str, Any]:
        if fallback is None:
            return error
        logger.warning(
            "Managed identity refresh failed (%s); serving the cached token", error.get("error")
        )
        return cache_hit_result(fallback, now)

    def _store(self, result: dict[str, Any], resource: str, now: float) -> dict[str, Any]:
        expires_in = int(result["expires_in"])
        if "refresh_in" not in result and expires_in >= REFRESH_HALFWAY_MIN_LIFETIME:
            result["refresh_in"] = expires_in // 2
        event = {
            "client_id": self._identity.cache_client_id,
            "scope": [resource],
            "token_endpoint": TOKEN_ENDPOINT,
            "response": dict(result),
            "params": {},
            "data": {},
        }
        with self._cache_access():
            self._token_cache.add(event, now=now)
        if "refresh_in" in result:
            result["refresh_on"] = int(now + result["refresh_in"])
        result["token_source"] = "identity_provider"
        return result
