"""``acquire_token_on_behalf_of``: a web API's tokens for a downstream API, per user.

The tokens of each incoming assertion are cached bound to it: the access and refresh
tokens carry ``user_assertion_hash`` (base64url SHA-256 of the assertion), and lookups
name it, so the tokens obtained with one user's assertion are never served for another
assertion. Per call:

1. unless a claims challenge is given, the cached access token for the assertion and
   scopes (>= 300 s left) is served with no request; an indexed lookup by client,
   environment, realm and assertion hash;
2. otherwise (expired, aging past ``refresh_on``, or another scope) the refresh token
   cached with the same assertion is redeemed (indexed by assertion hash);
3. otherwise, or when that refresh fails, the assertion is exchanged
   (jwt-bearer grant, ``requested_token_use=on_behalf_of``).

An aging access token is served when its refresh fails, as the other flows do. The
cache's access hooks get the assertion's partition key (:func:`obo_partition_key`).
MSAL Python performs no cache lookup for OBO (it always asks the server). msal's own
cache object (a foreign cache) stores no ``user_assertion_hash``, so with it every call
exchanges the assertion, exactly as msal does (tests/test_foreign_token_caches.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple, Optional

from identitylib._authority._metadata import OidcMetadata
from identitylib._cache import (
    USED_REFRESH_TOKEN,
    TokenCache,
    assertion_hash,
)
from identitylib._cache._own import indexed_refresh_tokens, may_hold_assertion
from identitylib._flows._state import AppState
from identitylib._log import get_logger, hide_secrets
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow
from identitylib._protocol._scopes import decorate
from identitylib._protocol.grants import on_behalf_of as obo_grant
from identitylib._protocol.grants import refresh_token as refresh_grant

from ._cache_hooks import in_cache
from ._fallback import serve_cached_on_failure
from ._lookups import find_access_token
from ._refresh_reason import note_refresh_reason
from ._shaping import serve_cached
from ._token_query import bound_query, cache_realm, extra_fields
from ._user_tokens import client_auth_fields, redeem
from .refresh_token import anchor_header

logger = get_logger(__name__)

REFRESH_TOKEN = "RefreshToken"
#: The event key that binds cached AT and RT entries to an incoming assertion.
USER_ASSERTION_HASH = "user_assertion_hash"


def _entries(found: Any) -> list[dict[str, Any]]:
    """The dicts a cache search yields (the search generator is closed)."""
    try:
        return [entry for entry in found if isinstance(entry, dict)]
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()


def find_obo_refresh_token(cache: Any, query: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The refresh token cached with this assertion (an indexed lookup), else None.

    A copy whose secret shows as ``'***'`` in the flow's locals (see ``_log.hide``).
    """
    rt_query = {
        "environment": query["environment"],
        "client_id": query["client_id"],
        USER_ASSERTION_HASH: query[USER_ASSERTION_HASH],
    }
    found = indexed_refresh_tokens(cache, rt_query)
    if found is None:
        found = _entries(cache.search(REFRESH_TOKEN, query=rt_query))
    for entry in found:
        if isinstance(entry.get("secret"), str) and entry["secret"]:
            return hide_secrets(entry)
    return None


def acquire_token_on_behalf_of(
    state: AppState,
    user_assertion: str,
    scopes: Sequence[str],
    *,
    claims_challenge: Optional[str] = None,
    forwarded_client_claims: Optional[str] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
    on_hit: Optional[Callable[[dict[str, Any]], None]] = None,
    defer_refresh: Optional[Callable[[], None]] = None,
    hashed_assertion: Optional[str] = None,
) -> Flow[dict[str, Any]]:
    """Tokens for ``scopes`` on behalf of the user of ``user_assertion`` (see the module);
    ``hashed_assertion``: its hash, when the caller made it already."""
    authority = state.authority
    extra, ext_cache_key = (
        extra_fields(data, forwarded_client_claims) if data or forwarded_client_claims else ({}, "")
    )  # (a plain call's: none)
    hashed = partition = hashed_assertion or assertion_hash(user_assertion)  # (obo_partition_key)
    now = state.now()
    metadata = authority.known_metadata  # (read once: the realm, then the request's)
    realm = metadata.realm if metadata is not None else authority.expected_realm
    if realm is None:
        realm = yield from cache_realm(authority)
    query = bound_query(
        state.client_id, authority.environment, realm, USER_ASSERTION_HASH, hashed, extra,
        ext_cache_key,
    )  # fmt: skip
    cache = state.token_cache
    hooks = state.cache_has_hooks()  # (none: lookups and writes in line)
    cached: Optional[dict[str, Any]] = None
    refresh_entry: Optional[dict[str, Any]] = None
    if not claims_challenge:
        if hooks:
            lookup = partial(_find_obo_tokens, cache, scopes, query, now)
            cached, refresh_due, refresh_entry = yield from in_cache(
                cache, partition, state.client_id, False, lookup
            )
        else:
            cached, refresh_due, refresh_entry = _find_obo_tokens(cache, scopes, query, now)
        if cached is not None:  # (a new assertion's miss: nothing to shape)
            served = serve_cached(
                cached, refresh_due, now, on_hit=on_hit, defer_refresh=defer_refresh
            )
            if served is not None:
                return served

    note_refresh_reason(cached, claims_challenge)
    if metadata is None:
        metadata = authority.known_metadata or (yield from authority.metadata_flow())
    correlation_id = state.new_correlation_id()
    try:
        auth = client_auth_fields(state, metadata)
    except FlowError as failure:
        return {**failure.result, "correlation_id": correlation_id}
    grant = _Grant(
        state, metadata, auth,
        decorate(scopes, state.exclude_scopes, checked=True),  # (by the builder)
        state.claims(claims_challenge, forwarded_client_claims),
        extra, headers, correlation_id, partition,
        {USER_ASSERTION_HASH: hashed, "ext_cache_key": ext_cache_key}, hooks,
    )  # fmt: skip
    if refresh_entry is not None:
        logger.debug("Redeeming the refresh token cached with this assertion")
        rotate = partial(_rotate_in_foreign_cache, state, refresh_entry, partition)
        result = yield from serve_cached_on_failure(
            cached, now, _redeem_cached_refresh_token(grant, refresh_entry), then=rotate
        )
        if "error" not in result:
            return result
        logger.debug("Refresh failed (%s); exchanging the assertion instead", result.get("error"))
    exchange = _exchange_assertion(grant, user_assertion)
    if cached is None:  # nothing to serve should it fail: no fallback around the request
        return (yield from exchange)
    return (yield from serve_cached_on_failure(cached, now, exchange))


class _Grant(NamedTuple):
    """What both of the flow's token requests share, once the cache could not serve (a
    tuple: made in one step)."""

    state: AppState
    metadata: OidcMetadata
    client_auth: dict[str, str]
    scopes: Sequence[str]
    claims: Optional[str]
    extra: Mapping[str, Any]
    headers: Optional[Mapping[str, str]]
    correlation_id: str
    partition: str
    event_keys: Mapping[str, Any]
    #: Whether the cache has access hooks.
    hooks: bool

    def post(
        self,
        fields: Mapping[str, str],
        grant_type: str,
        headers: Optional[Mapping[str, str]],
        event_extra: Mapping[str, Any],
    ) -> Flow[dict[str, Any]]:
        """POST ``fields``; the result, its tokens cached bound to the assertion."""
        return redeem(
            self.state,
            self.metadata,
            fields=fields,
            grant_type=grant_type,
            scopes=self.scopes,
            correlation_id=self.correlation_id,
            partition_key=self.partition,
            headers=headers,
            event_extra={**self.event_keys, **event_extra} if event_extra else self.event_keys,
            hooks=self.hooks,
        )


def _find_obo_tokens(
    cache: Any, scopes: Sequence[str], query: Mapping[str, Any], now: float
) -> tuple[Optional[dict[str, Any]], bool, Optional[dict[str, Any]]]:
    """(the cached access token, whether its refresh is due, the refresh token to redeem
    when the access token cannot be served as it is). An assertion none of the cache's
    tokens is bound to (a new user's, each call of a web API) costs two index probes."""
    if not may_hold_assertion(cache, query, scopes):
        return None, False, None
    found, due = find_access_token(cache, scopes, query, now)
    if found is not None and not due:
        return found, due, None
    return found, due, find_obo_refresh_token(cache, query)


def _redeem_cached_refresh_token(
    grant: _Grant, refresh_entry: Mapping[str, Any]
) -> Flow[dict[str, Any]]:
    """Redeem the refresh token cached with the assertion; the new RT replaces it."""
    fields = refresh_grant.request_fields(
        client_id=grant.state.client_id,
        refresh_token=refresh_entry["secret"],
        scopes=grant.scopes,
        client_auth=grant.client_auth,
        claims=grant.claims,
        extra=grant.extra,
    )
    headers = anchor_header(refresh_entry.get("home_account_id"))
    headers.update(grant.headers or {})
    event_extra = {USED_REFRESH_TOKEN: dict(refresh_entry), "skip_account_creation": True}
    return grant.post(fields, refresh_grant.GRANT_TYPE, headers, event_extra)


def _exchange_assertion(grant: _Grant, user_assertion: str) -> Flow[dict[str, Any]]:
    """Exchange the incoming assertion (jwt-bearer grant, ``on_behalf_of``)."""
    fields = obo_grant.request_fields(
        client_id=grant.state.client_id,
        user_assertion=user_assertion,
        scopes=grant.scopes,
        client_auth=grant.client_auth,
        claims=grant.claims,
        extra=grant.extra,
    )
    return grant.post(fields, obo_grant.GRANT_TYPE, grant.headers, {})


def _rotate_in_foreign_cache(
    state: AppState, used: Mapping[str, Any], partition: str, result: dict[str, Any]
) -> Flow[dict[str, Any]]:
    """A foreign cache (msal's) ignores the used-RT event key: rotate the RT explicitly."""
    new_rt = result.get("refresh_token")
    cache = state.token_cache
    if isinstance(new_rt, str) and not isinstance(cache, TokenCache):
        yield from in_cache(
            cache, partition, state.client_id, False,
            lambda: cache.update_rt(dict(used), new_rt),
        )  # fmt: skip
    return result
