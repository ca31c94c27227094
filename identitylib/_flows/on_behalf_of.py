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
MSAL Python performs no cache lookup for OBO (it always asks the server).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

from identitylib._cache import (
    USED_REFRESH_TOKEN,
    TokenCache,
    assertion_hash,
    compute_ext_cache_key,
    obo_partition_key,
)
from identitylib._flows._state import AppState
from identitylib._log import get_logger, hide_secrets
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow
from identitylib._protocol._scopes import decorate
from identitylib._protocol.grants import on_behalf_of as obo_grant
from identitylib._protocol.grants import refresh_token as refresh_grant

from ._cache_hooks import cache_access, in_cache
from ._lookups import find_access_token
from ._refresh_reason import note_refresh_reason
from ._shaping import cache_hit_result, serve_cached
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
    for entry in _entries(cache.search(REFRESH_TOKEN, query=rt_query)):
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
) -> Flow[dict[str, Any]]:
    """Tokens for ``scopes`` on behalf of the user of ``user_assertion`` (see the module)."""
    authority = state.authority
    extra = dict(data or {})
    ext_cache_key = compute_ext_cache_key(
        {**extra, "client_claims": forwarded_client_claims} if forwarded_client_claims else extra
    )
    hashed = assertion_hash(user_assertion)
    partition = obo_partition_key(user_assertion)
    scopes_to_request = decorate(scopes, state.exclude_scopes)
    now = state.now()
    realm = authority.expected_realm
    if realm is None:
        realm = (yield from authority.metadata_flow()).realm
    query: dict[str, Any] = {
        "client_id": state.client_id,
        "environment": state.environment,
        "realm": realm,
        USER_ASSERTION_HASH: hashed,
    }
    if extra.get("key_id"):
        query["key_id"] = extra["key_id"]
    if ext_cache_key:
        query["ext_cache_key"] = ext_cache_key

    cached: Optional[dict[str, Any]] = None
    refresh_entry: Optional[dict[str, Any]] = None
    if not claims_challenge:

        def lookup() -> tuple[Optional[dict[str, Any]], bool, Optional[dict[str, Any]]]:
            found, due = find_access_token(state.token_cache, scopes, query, now)
            if found is not None and not due:
                return found, due, None
            return found, due, find_obo_refresh_token(state.token_cache, query)

        cached, refresh_due, refresh_entry = yield from in_cache(
            state.token_cache, partition, state.client_id, False, lookup
        )
        served = serve_cached(cached, refresh_due, now, on_hit=on_hit, defer_refresh=defer_refresh)
        if served is not None:
            return served

    note_refresh_reason(cached, claims_challenge)
    metadata = yield from authority.metadata_flow()
    correlation_id = state.new_correlation_id()
    try:
        auth = client_auth_fields(state, metadata)
    except FlowError as failure:
        return {**failure.result, "correlation_id": correlation_id}
    claims = state.claims(claims_challenge, forwarded_client_claims)
    common: dict[str, Any] = {"user_assertion_hash": hashed, "ext_cache_key": ext_cache_key}

    if refresh_entry is not None:
        logger.debug("Redeeming the refresh token cached with this assertion")
        rt_fields = refresh_grant.request_fields(
            client_id=state.client_id,
            refresh_token=refresh_entry["secret"],
            scopes=scopes_to_request,
            client_auth=auth,
            claims=claims,
            extra=extra,
        )
        rt_headers = anchor_header(refresh_entry.get("home_account_id"))
        rt_headers.update(headers or {})
        try:
            result = yield from redeem(
                state,
                metadata,
                fields=rt_fields,
                grant_type=refresh_grant.GRANT_TYPE,
                scopes=scopes_to_request,
                correlation_id=correlation_id,
                partition_key=partition,
                headers=rt_headers,
                event_extra={
                    **common,
                    USED_REFRESH_TOKEN: dict(refresh_entry),
                    "skip_account_creation": True,
                },
            )
        except Exception:
            if cached is None:
                raise
            logger.warning("Proactive refresh failed; serving the cached token", exc_info=True)
            return cache_hit_result(cached, now)
        if "error" not in result:
            _rotate_in_foreign_cache(state, refresh_entry, result, partition)
            return result
        if cached is not None:
            logger.warning(
                "Proactive refresh failed (%s); serving the cached token", result["error"]
            )
            return cache_hit_result(cached, now)
        logger.debug("Refresh failed (%s); exchanging the assertion instead", result.get("error"))

    fields = obo_grant.request_fields(
        client_id=state.client_id,
        user_assertion=user_assertion,
        scopes=scopes_to_request,
        client_auth=auth,
        claims=claims,
        extra=extra,
    )
    try:
        result = yield from redeem(
            state,
            metadata,
            fields=fields,
            grant_type=obo_grant.GRANT_TYPE,
            scopes=scopes_to_request,
            correlation_id=correlation_id,
            partition_key=partition,
            headers=headers,
            event_extra=common,
        )
    except Exception:
        if cached is None:
            raise
        logger.warning("Proactive refresh failed; serving the cached token", exc_info=True)
        return cache_hit_result(cached, now)
    if "error" in result and cached is not None:
        logger.warning("Proactive refresh failed (%s); serving the cached token", result["error"])
        return cache_hit_result(cached, now)
    return result


def _rotate_in_foreign_cache(
    state: AppState, used: Mapping[str, Any], result: Mapping[str, Any], partition: str
) -> None:
    """A foreign cache (msal's) ignores the used-RT event key: rotate the RT explicitly."""
    new_rt = result.get("refresh_token")
    cache = state.token_cache
    if isinstance(new_rt, str) and not isinstance(cache, TokenCache):
        with cache_access(cache, partition, state.client_id, is_app_cache=False):
            cache.update_rt(dict(used), new_rt)
