"""``acquire_token_for_client``: app-only tokens, served from the cache while fresh."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

from identitylib._authority import AuthorityKind
from identitylib._cache import app_partition_key, compute_ext_cache_key
from identitylib._flows._state import AppState
from identitylib._log import get_logger
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow
from identitylib._protocol._request import token_request
from identitylib._protocol._token_response import parse_token_response
from identitylib._protocol.grants import client_credentials

from ._cache_hooks import in_cache
from ._lookups import find_access_token, find_access_token_in_forms
from ._refresh_reason import note_refresh_reason
from ._shaping import cache_event, cache_hit_result, provider_result, serve_cached
from ._user_tokens import client_auth_fields

logger = get_logger(__name__)


def acquire_token_for_client(
    state: AppState,
    scopes: Sequence[str],
    *,
    claims_challenge: str | None = None,
    data: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    fmi_path: str | None = None,
    forwarded_client_claims: str | None = None,
    region: Optional[Callable[[], Optional[str]]] = None,
    on_hit: Optional[Callable[[dict[str, Any]], None]] = None,
    defer_refresh: Optional[Callable[[], None]] = None,
) -> Flow[dict[str, Any]]:
    """Serve a cached app token, refreshing it proactively; else request one.

    Extra body fields (``data``, ``fmi_path``) and ``forwarded_client_claims`` key the
    cached token by MSAL's extended cache key, so different values never share a token;
    so does an SSH certificate's ``key_id``. ``region`` is called only when a token must
    be requested (a cache hit never detects the region); when it names one (an Entra
    authority only) the token is requested from the regional endpoint (ESTS-R): the
    discovered token endpoint on the regional host, with no second discovery. The cache
    entry keeps the authority's own environment, as in MSAL. A token another MSAL library
    cached in its own form (msal-node, MSAL.NET) is served too. ``on_hit`` is told the
    entry that served a cache hit (the app's fast path remembers it).
    """
    authority = state.authority
    extra = dict(data or {})
    if fmi_path:
        extra["fmi_path"] = fmi_path
    ext_cache_key = compute_ext_cache_key(
        {**extra, "client_claims": forwarded_client_claims} if forwarded_client_claims else extra
    )
    now = state.now()
    realm = authority.expected_realm
    if realm is None:
        realm = (yield from authority.metadata_flow()).realm
    query: dict[str, Any] = {
        "client_id": state.client_id,
        "environment": state.environment,
        "realm": realm,
        "home_account_id": None,
    }
    if extra.get("key_id"):
        query["key_id"] = extra["key_id"]
    if ext_cache_key:
        query["ext_cache_key"] = ext_cache_key
    partition = app_partition_key(state.client_id, realm)
    cached: dict[str, Any] | None = None
    if not claims_challenge:
        realms = authority.cache_realms(realm)

        def lookup() -> tuple[dict[str, Any] | None, bool]:
            found = find_access_token(state.token_cache, scopes, query, now)
            if found[0] is not None:
                return found
            return find_access_token_in_forms(
                state.token_cache, scopes, query, state.cache_environments, realms, now
            )

        cached, refresh_due = yield from in_cache(
            state.token_cache, partition, state.client_id, True, lookup
        )
        served = serve_cached(cached, refresh_due, now, on_hit=on_hit, defer_refresh=defer_refresh)
        if served is not None:
            return served

    note_refresh_reason(cached, claims_challenge)
    metadata = yield from authority.metadata_flow()
    region_name = region() if region is not None else None
    if region_name:
        if authority.parsed.kind is AuthorityKind.ENTRA:
            from identitylib._authority._region import regional_endpoint

            endpoint = regional_endpoint(metadata.token_endpoint, region_name, authority.instance)
            logger.debug("Using the regional token endpoint %s", endpoint)
            metadata = dataclasses.replace(metadata, token_endpoint=endpoint)
        else:
            logger.debug("No regional endpoint for a %s authority", authority.parsed.kind.value)
    correlation_id = state.new_correlation_id()
    try:
        auth = client_auth_fields(state, metadata, fmi_path=fmi_path)
    except FlowError as failure:
        return {**failure.result, "correlation_id": correlation_id}
    fields = client_credentials.request_fields(
        client_id=state.client_id,
        scopes=scopes,
        client_auth=auth,
        claims=state.claims(claims_challenge, forwarded_client_claims),
        extra=extra,
    )
    request = token_request(metadata.token_endpoint, fields, state.headers(correlation_id, headers))
    try:
        response = yield request
    except Exception:
        if cached is not None:
            logger.warning("Proactive refresh failed; serving the cached token", exc_info=True)
            return cache_hit_result(cached, now)
        raise
    result = parse_token_response(
        response, correlation_id=correlation_id, requested_token_type=fields.get("token_type")
    )
    if "error" in result:
        if cached is not None:
            logger.warning(
                "Proactive refresh failed (%s); serving the cached token", result["error"]
            )
            return cache_hit_result(cached, now)
        return result
    if "access_token" in result:
        event = cache_event(
            state,
            scopes=scopes,
            token_endpoint=metadata.token_endpoint,
            grant_type=client_credentials.GRANT_TYPE,
            response=result,
            data=fields,
            ext_cache_key=ext_cache_key,
        )
        yield from in_cache(
            state.token_cache, partition, state.client_id, True,
            lambda: state.token_cache.add(event, now=now),
        )  # fmt: skip
    return provider_result(result, now)
