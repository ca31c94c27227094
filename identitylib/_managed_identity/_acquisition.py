"""A managed-identity token call as one sans-I/O flow, for the blocking and asyncio clients.

:func:`acquire_token_flow` looks in the cache, checks the throttle, runs the source's own
flow (its requests, IMDS's retries) and writes the token to the cache; ``run_sync`` drives it
in :class:`~identitylib.ManagedIdentityClient`, ``run_async`` in
:class:`identitylib.aio.ManagedIdentityClient`. The cache's access hooks are steps of the
flow, as in the token flows (``identitylib/_flows/_cache_hooks.py``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Hashable, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Optional

from identitylib._cache import app_partition_key
from identitylib._flows._cache_hooks import in_cache
from identitylib._flows._fallback import serve_cached_on_failure
from identitylib._flows._lookups import find_access_token
from identitylib._flows._refresh_reason import note_refresh_reason
from identitylib._flows._shaping import serve_cached
from identitylib._flows._state import note_replaced_clock
from identitylib._log import get_logger
from identitylib._protocol._messages import Flow, HttpRequest
from identitylib._telemetry import note_managed_identity_source
from identitylib._transport._policy import RetryPolicy
from identitylib._transport._throttle import Throttle

from ._app_service import app_service_flow, app_service_request
from ._arc import arc_flow, arc_request
from ._cloud_shell import cloud_shell_flow, cloud_shell_request
from ._context import IMDS_RETRY, FlowContext, ImdsState
from ._identities import SYSTEM_ASSIGNED_CACHE_ID, IdentitySpec
from ._imds import imds_flow, imds_request
from ._machine_learning import machine_learning_flow, machine_learning_request
from ._response import Outcome
from ._service_fabric import service_fabric_flow, service_fabric_request
from ._sources import (
    AppServiceConfig,
    ArcConfig,
    CloudShellConfig,
    MachineLearningConfig,
    ServiceFabricConfig,
    SourceConfig,
)
from ._throttle import outcome_response, replayed_result

logger = get_logger(__name__)

#: Cache ``environment`` and ``realm`` of every managed-identity token (msal's values).
ENVIRONMENT = "localhost"
REALM = "managed_identity"
TOKEN_ENDPOINT = f"https://{ENVIRONMENT}/{REALM}"
#: Tokens living at least this long get ``refresh_in`` = half their lifetime.
REFRESH_HALFWAY_MIN_LIFETIME = 7200


@dataclass
class ManagedIdentityState:
    """What the acquisition flow knows of its client (one per client object).

    ``now`` is the wall clock and ``sleep`` the blocking driver's pause between IMDS
    retries (seams for tests); ``throttle`` remembers failing calls (``_throttle.py``);
    ``imds_state`` whether IMDS ever answered this client.
    """

    identity: IdentitySpec
    token_cache: Any
    throttle: Throttle
    client_capabilities: tuple[str, ...] = ()
    imds_retry: RetryPolicy = IMDS_RETRY
    imds_state: ImdsState = field(default_factory=ImdsState)
    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "now" and value is not time.time:  # the cache lane reads it from now on
            note_replaced_clock()
        object.__setattr__(self, name, value)

    def partition(self) -> tuple[str, str]:
        """The (partition key, client id) the cache's access hooks are told of."""
        client_id = self.identity.cache_client_id or SYSTEM_ASSIGNED_CACHE_ID
        return app_partition_key(client_id, REALM), client_id

    def query(self) -> dict[str, Any]:
        """The cache query of this identity's access tokens."""
        return {
            "client_id": self.identity.cache_client_id,
            "environment": ENVIRONMENT,
            "realm": REALM,
            "home_account_id": None,
        }


def check_arguments(
    http_cache: Optional[MutableMapping[Any, Any]], client_capabilities: Optional[Sequence[str]]
) -> None:
    """TypeError for constructor arguments of the wrong type (both clients)."""
    if http_cache is not None and not isinstance(http_cache, MutableMapping):
        raise TypeError("http_cache must be a dict-like object (e.g. a dict or a shelve)")
    if isinstance(client_capabilities, str):
        raise TypeError('client_capabilities must be a list of strings, e.g. ["CP1"]')


def check_resource(resource: Any) -> None:
    """ValueError unless ``resource`` is a non-empty string."""
    if not isinstance(resource, str) or not resource.strip():
        raise ValueError("resource must be a non-empty string, e.g. https://management.azure.com")


def flight_key(resource: str, claims_challenge: Optional[str]) -> Optional[Hashable]:
    """The single-flight key of a call; None (never shared) with a claims challenge."""
    return None if claims_challenge else ("managed identity", resource)


def source_flow(config: SourceConfig, ctx: FlowContext) -> tuple[Flow[Outcome], HttpRequest]:
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


def acquire_token_flow(
    state: ManagedIdentityState,
    resource: str,
    *,
    source: Callable[[], SourceConfig],
    claims_challenge: Optional[str] = None,
    defer_refresh: Optional[Callable[[], None]] = None,
) -> Flow[dict[str, Any]]:
    """A token for ``resource``: from the cache while fresh, else from the source.

    ``source`` names the source (detection) and is called on a miss only. A token due for
    refresh is served at once when ``defer_refresh`` can start the refresh elsewhere (the
    asyncio client's background task), else refreshed here and served again if the refresh
    fails. A claims challenge skips the cache and names the rejected token by its SHA-256.
    """
    now = state.now()
    partition, client_id = state.partition()
    query = state.query()
    cached, refresh_due = yield from in_cache(
        state.token_cache, partition, client_id, True,
        lambda: find_access_token(state.token_cache, [resource], query, now),
    )  # fmt: skip
    to_refresh: Optional[str] = None
    if claims_challenge:
        if cached is not None:
            to_refresh = hashlib.sha256(str(cached["secret"]).encode("utf-8")).hexdigest()
        cached = None  # the challenged token must not be served again
    else:
        served = serve_cached(cached, refresh_due, now, defer_refresh=defer_refresh)
        if served is not None:
            return served
    attempt = _from_source(state, resource, source, cached, claims_challenge, to_refresh)
    store = partial(_store, state, resource, now)
    return (yield from serve_cached_on_failure(cached, now, attempt, then=store))


def _from_source(
    state: ManagedIdentityState,
    resource: str,
    source: Callable[[], SourceConfig],
    cached: Optional[dict[str, Any]],
    claims_challenge: Optional[str],
    to_refresh: Optional[str],
) -> Flow[dict[str, Any]]:
    """The source's answer (a token or an error), or the throttle's remembered error;
    ``source`` (detection) runs as part of the attempt, so its failure is one as well."""
    config = source()
    note_managed_identity_source(config.source.name)
    note_refresh_reason(cached, claims_challenge)
    ctx = FlowContext(
        identity=state.identity,
        resource=resource,
        claims_challenge=claims_challenge,
        token_sha256_to_refresh=to_refresh,
        client_capabilities=state.client_capabilities,
        imds_retry=state.imds_retry,
        imds_state=state.imds_state,
        now=state.now,
    )
    flow, first_request = source_flow(config, ctx)
    replay = state.throttle.check(first_request)
    remembered = replayed_result(replay) if replay is not None else None
    if remembered is not None:
        flow.close()
        logger.info("Managed identity call throttled locally: %s", remembered["error"])
        return remembered
    logger.debug("Requesting a managed identity token from %s (%s)", config.source.name,
                 state.identity.describe())  # fmt: skip
    outcome = yield from flow
    remembered_answer = outcome_response(outcome)
    if remembered_answer is not None:
        state.throttle.record(first_request, remembered_answer)
    return outcome.result


def _store(
    state: ManagedIdentityState, resource: str, now: float, result: dict[str, Any]
) -> Flow[dict[str, Any]]:
    """Cache the token of a successful answer; any other answer is returned as it is."""
    if "access_token" not in result:
        return result
    expires_in = int(result["expires_in"])
    if "refresh_in" not in result and expires_in >= REFRESH_HALFWAY_MIN_LIFETIME:
        result["refresh_in"] = expires_in // 2
    event = {
        "client_id": state.identity.cache_client_id,
        "scope": [resource],
        "token_endpoint": TOKEN_ENDPOINT,
        "response": dict(result),
        "params": {},
        "data": {},
    }
    partition, client_id = state.partition()
    yield from in_cache(
        state.token_cache, partition, client_id, True,
        lambda: state.token_cache.add(event, now=now),
    )  # fmt: skip
    if "refresh_in" in result:
        result["refresh_on"] = int(now + result["refresh_in"])
    result["token_source"] = "identity_provider"
    return result
