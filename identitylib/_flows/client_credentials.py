"""``acquire_token_for_client``: app-only tokens, served from the cache while fresh."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Optional

from identitylib._authority import Authority, AuthorityKind
from identitylib._authority._metadata import OidcMetadata
from identitylib._cache import app_partition_key
from identitylib._cache._own import environments_with_access_tokens
from identitylib._flows._state import AppState
from identitylib._log import get_logger
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow, HttpRequest
from identitylib._protocol._request import token_request
from identitylib._protocol._token_response import parse_token_response
from identitylib._protocol.grants import client_credentials

from ._cache_hooks import in_cache
from ._fallback import serve_cached_on_failure
from ._lookups import find_access_token, find_access_token_in_forms
from ._refresh_reason import note_refresh_reason
from ._shaping import cache_event, provider_result, serve_cached
from ._token_query import bound_query, cache_realm, extra_fields
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

    Extra body fields (``data``, ``fmi_path``), ``forwarded_client_claims`` and an SSH
    certificate's ``key_id`` key the cached token by MSAL's extended cache key. ``region``
    is called only when a token must be requested; when it names one (an Entra authority
    only) the token comes from the regional endpoint (ESTS-R), the discovered one on the
    regional host; the cache entry keeps the authority's own environment, as in MSAL. A
    token another MSAL library cached in its own form (msal-node, MSAL.NET) is served
    too. ``on_hit`` is told the entry that served a cache hit (the app's memo keeps it).
    """
    authority = state.authority
    given = (data, forwarded_client_claims, fmi_path)
    extra, ext_cache_key = extra_fields(*given) if any(given) else ({}, "")  # (plain: no call)
    now = state.now()
    metadata = authority.known_metadata  # (asked once: its realm, then its endpoints)
    realm = metadata.realm if metadata is not None else authority.expected_realm
    realm = realm or (yield from cache_realm(authority))
    query = bound_query(
        state.client_id, authority.environment, realm, "home_account_id", None, extra, ext_cache_key
    )
    hooks = state.cache_has_hooks()  # (none: lookups and writes in line)
    cached: dict[str, Any] | None = None
    if not claims_challenge:
        if hooks:
            cached, refresh_due = yield from _hooked_lookup(state, scopes, query, realm, now)
        else:
            cached, refresh_due = _find_app_token(state, scopes, query, authority, realm, now)
        if cached is not None:  # (else nothing to serve: no call)
            served = serve_cached(
                cached, refresh_due, now, on_hit=on_hit, defer_refresh=defer_refresh
            )
            if served is not None:
                return served
    note_refresh_reason(cached, claims_challenge)
    metadata = metadata or authority.known_metadata or (yield from authority.metadata_flow())
    if region is not None:
        metadata = _regional(authority, metadata, region())
    correlation_id = state.new_correlation_id()
    claims = state.claims(claims_challenge, forwarded_client_claims)
    try:
        request, fields = _token_request(
            state, scopes, metadata, extra, fmi_path, claims, headers, correlation_id
        )
    except FlowError as failure:
        return {**failure.result, "correlation_id": correlation_id}
    token_endpoint = metadata.token_endpoint
    if cached is None:  # nothing to serve should it fail: no fallback around the request
        response = yield request
        body = parse_token_response(
            response, correlation_id=correlation_id, requested_token_type=fields.get("token_type")
        )
        if "error" in body:
            return body
        if not hooks:
            return _stored(state, scopes, token_endpoint, fields, ext_cache_key, now, body)
        return (
            yield from _store_app_token(
                state, scopes, token_endpoint, fields, ext_cache_key, realm, now, hooks, body
            )
        )
    store = partial(
        _store_app_token,
        state, scopes, token_endpoint, fields, ext_cache_key, realm, now, hooks,
    )  # fmt: skip
    attempt = _request_app_token(request, fields, correlation_id)
    return (yield from serve_cached_on_failure(cached, now, attempt, then=store))


def _token_request(
    state: AppState,
    scopes: Sequence[str],
    metadata: OidcMetadata,
    extra: Mapping[str, Any],
    fmi_path: Optional[str],
    claims: Optional[str],
    headers: Optional[Mapping[str, str]],
    correlation_id: str,
) -> tuple[HttpRequest, dict[str, str]]:
    """The token request of an app token, and its form fields (FlowError: the app's
    credential could not be made)."""
    fields = client_credentials.request_fields(
        client_id=state.client_id,
        scopes=scopes,
        client_auth=client_auth_fields(state, metadata, fmi_path=fmi_path),
        claims=claims,
        extra=extra,
    )
    return token_request(
        metadata.token_endpoint, fields, state.headers(correlation_id, headers)
    ), fields


def _hooked_lookup(
    state: AppState, scopes: Sequence[str], query: Mapping[str, Any], realm: str, now: float
) -> Flow[tuple[dict[str, Any] | None, bool]]:
    """:func:`_find_app_token` between the cache's access hooks (the app's partition of
    ``realm``)."""
    lookup = partial(_find_app_token, state, scopes, query, state.authority, realm, now)
    partition = app_partition_key(state.client_id, realm)
    return (yield from in_cache(state.token_cache, partition, state.client_id, True, lookup))


def _find_app_token(
    state: AppState,
    scopes: Sequence[str],
    query: Mapping[str, Any],
    authority: Authority,
    realm: str,
    now: float,
) -> tuple[dict[str, Any] | None, bool]:
    """The cached app token for ``scopes``: msal Python's form, else another library's
    (only in the environments where the cache's index says one could match: none is the
    usual miss, decided at once; the realms other libraries use are asked for only then)."""
    environments = environments_with_access_tokens(
        state.token_cache, query, scopes, authority.cache_environments
    )
    if not environments:
        return None, False
    found = find_access_token(state.token_cache, scopes, query, now)
    if found[0] is not None:
        return found
    realms = authority.cache_realms(realm)
    return find_access_token_in_forms(state.token_cache, scopes, query, environments, realms, now)


def _regional(
    authority: Authority, metadata: OidcMetadata, region_name: Optional[str]
) -> OidcMetadata:
    """The metadata with its token endpoint on ``region_name``'s host (ESTS-R), for an
    Entra authority; unchanged without a region or for another kind of authority."""
    if not region_name:
        return metadata
    if authority.parsed.kind is not AuthorityKind.ENTRA:
        logger.debug("No regional endpoint for a %s authority", authority.parsed.kind.value)
        return metadata
    from identitylib._authority._region import regional_endpoint

    endpoint = regional_endpoint(metadata.token_endpoint, region_name, authority.instance)
    logger.debug("Using the regional token endpoint %s", endpoint)
    return dataclasses.replace(metadata, token_endpoint=endpoint)


def _request_app_token(
    request: HttpRequest, fields: Mapping[str, str], correlation_id: str
) -> Flow[dict[str, Any]]:
    """Send the token request; its parsed answer (a token or an error result)."""
    response = yield request
    return parse_token_response(
        response, correlation_id=correlation_id, requested_token_type=fields.get("token_type")
    )


def _store_app_token(
    state: AppState,
    scopes: Sequence[str],
    token_endpoint: str,
    fields: Mapping[str, str],
    ext_cache_key: str,
    realm: str,
    now: float,
    hooks: bool,
    body: dict[str, Any],
) -> Flow[dict[str, Any]]:
    """Cache the token the endpoint issued (in the app's partition of ``realm``, between
    the cache's access ``hooks`` if it has any): :func:`_stored`'s result."""
    if not hooks or "access_token" not in body:
        return _stored(state, scopes, token_endpoint, fields, ext_cache_key, now, body)
    partition = app_partition_key(state.client_id, realm)
    return (
        yield from in_cache(
            state.token_cache, partition, state.client_id, True,
            lambda: _stored(state, scopes, token_endpoint, fields, ext_cache_key, now, body),
        )
    )  # fmt: skip


def _stored(
    state: AppState,
    scopes: Sequence[str],
    token_endpoint: str,
    fields: Mapping[str, str],
    ext_cache_key: str,
    now: float,
    body: dict[str, Any],
) -> dict[str, Any]:
    """The app's result of the token the endpoint issued, made before the token is cached
    (the cache event holds ``body`` itself); between the hooks, if any (see
    :func:`_store_app_token`)."""
    result = provider_result(body, now)
    if "access_token" in body:
        extra = {"ext_cache_key": ext_cache_key}
        grant = client_credentials.GRANT_TYPE
        event = cache_event(state, scopes, token_endpoint, grant, body, fields, extra)
        state.token_cache.add(event, now=now)
    return result
