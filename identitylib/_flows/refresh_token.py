"""Redeeming refresh tokens: one cached RT (for the silent flow) or a migrated one.

A cached RT that is redeemed is *replaced* by the new RT the server sends (the cache
rewrites the used entry in place, keeping its key, client id and family). A migrated RT
(``acquire_token_by_refresh_token``) is stored as a new entry. An ``invalid_grant`` never
deletes an RT: it may be caused by a policy (MFA) that another scope or tenant does not
have, as MSAL reasons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from identitylib._authority._metadata import OidcMetadata
from identitylib._cache import USED_REFRESH_TOKEN, TokenCache, user_partition_key
from identitylib._flows._state import AppState
from identitylib._protocol._messages import Flow
from identitylib._protocol.grants import refresh_token as refresh_grant

from ._cache_hooks import cache_access
from ._user_tokens import client_auth_fields, redeem


def anchor_header(home_account_id: Optional[str]) -> dict[str, str]:
    """The CCS routing header for a known account (``Oid:{uid}@{utid}``), else none."""
    if home_account_id and "." in home_account_id:
        return {"X-AnchorMailbox": "Oid:" + home_account_id.replace(".", "@", 1)}
    return {}


def redeem_refresh_token(
    state: AppState,
    metadata: OidcMetadata,
    *,
    refresh_token: str,
    scopes: Sequence[str],
    correlation_id: str,
    claims: Optional[str] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
    used_entry: Optional[Mapping[str, Any]] = None,
    ext_cache_key: Optional[str] = None,
    hooks: Optional[bool] = None,
) -> Flow[dict[str, Any]]:
    """Redeem ``refresh_token`` for ``scopes`` (already decorated).

    With ``used_entry`` (a copy of the cached RT entry, which the cache event then holds)
    the new RT replaces it and no Account entry is (re)created, as MSAL's silent flow does
    so that a concurrent ``remove_account`` wins. The request is built when this is
    called; the flow it returns sends it.
    ``hooks``: whether the cache has access hooks, when the caller asked already.
    """
    home_account_id = used_entry.get("home_account_id") if used_entry else None
    if state.authority.is_oidc:
        # RFC 6749 §6: a refresh may not ask for scope the grant lacks, and a generic
        # provider grants offline_access only when consent was prompted for it.
        scopes = [s for s in scopes if s != "offline_access"]
    fields = refresh_grant.request_fields(
        client_id=state.client_id,
        refresh_token=refresh_token,
        scopes=scopes,
        client_auth=client_auth_fields(state, metadata),
        claims=claims,
        extra=data,
    )
    request_headers = anchor_header(home_account_id)
    if headers:
        request_headers.update(headers)
    event_extra: dict[str, Any] = {}
    if used_entry is not None:
        event_extra[USED_REFRESH_TOKEN] = used_entry  # (the caller's copy: see above)
        event_extra["skip_account_creation"] = True
    if ext_cache_key is not None:
        event_extra["ext_cache_key"] = ext_cache_key
    redeemed = redeem(
        state,
        metadata,
        fields=fields,
        grant_type=refresh_grant.GRANT_TYPE,
        scopes=scopes,
        correlation_id=correlation_id,
        headers=request_headers,
        event_extra=event_extra,
        hooks=hooks,
    )
    if used_entry is None or isinstance(state.token_cache, TokenCache):
        return redeemed  # (the cache replaces the used RT: no generator of ours around it)
    return _rotated_in_foreign_cache(state, used_entry, home_account_id, redeemed)


def _rotated_in_foreign_cache(
    state: AppState,
    used_entry: Mapping[str, Any],
    home_account_id: Optional[str],
    redeemed: Flow[dict[str, Any]],
) -> Flow[dict[str, Any]]:
    """``redeemed``, then, for a foreign cache (msal's own), which ignores the used-RT
    event key, the used RT rotated explicitly."""
    result = yield from redeemed
    new_rt = result.get("refresh_token")
    if isinstance(new_rt, str):
        cache = state.token_cache
        partition = user_partition_key(home_account_id) if home_account_id else None
        with cache_access(cache, partition, state.client_id, is_app_cache=False):
            cache.update_rt(dict(used_entry), new_rt)
    return result


def acquire_token_by_refresh_token(
    state: AppState,
    refresh_token: str,
    scopes: Sequence[str],
    *,
    claims_challenge: Optional[str] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> Flow[dict[str, Any]]:
    """Migrate an RT obtained elsewhere: redeem it, store the new tokens (a new RT entry)."""
    metadata = yield from state.authority.metadata_flow()
    return (
        yield from redeem_refresh_token(
            state,
            metadata,
            refresh_token=refresh_token,
            scopes=scopes,
            correlation_id=state.new_correlation_id(),
            claims=state.claims(claims_challenge),
            data=data,
            headers=headers,
        )
    )
