"""What a flow looks cached access tokens up by: the realm, the extended key, the query."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from identitylib._authority import Authority
from identitylib._cache import compute_ext_cache_key
from identitylib._protocol._messages import Flow


def extended_cache_key(extra: Mapping[str, Any], forwarded_client_claims: Optional[str]) -> str:
    """MSAL's extended cache key of a request's extra body fields and forwarded claims."""
    if forwarded_client_claims:
        return compute_ext_cache_key({**extra, "client_claims": forwarded_client_claims})
    return compute_ext_cache_key(extra)


def extra_fields(
    data: Optional[Mapping[str, Any]],
    forwarded_client_claims: Optional[str],
    fmi_path: Optional[str] = None,
) -> tuple[dict[str, Any], str]:
    """A request's extra body fields (a copy of ``data``, and ``fmi_path``) and MSAL's
    extended cache key of them and the forwarded claims ("" when there are none)."""
    extra = dict(data) if data else {}
    if fmi_path:
        extra["fmi_path"] = fmi_path
    if not (extra or forwarded_client_claims):
        return extra, ""
    return extra, extended_cache_key(extra, forwarded_client_claims)


def cache_realm(authority: Authority) -> Flow[str]:
    """The realm the authority's tokens are cached under, discovered only when the
    authority's URL does not tell it."""
    realm = authority.expected_realm
    if realm is None:
        realm = (yield from authority.metadata_flow()).realm
    return realm


def access_token_query(
    query: dict[str, Any], extra: Mapping[str, Any], ext_cache_key: str
) -> dict[str, Any]:
    """The cache query of an access token: ``query`` (the client, then the flow's keys, in
    order: made by the flow as a literal), then the SSH certificate's ``key_id`` and the
    extended cache key when the request has them (added to ``query`` itself, returned)."""
    if extra and extra.get("key_id"):
        query["key_id"] = extra["key_id"]
    if ext_cache_key:
        query["ext_cache_key"] = ext_cache_key
    return query


def bound_query(
    client_id: str,
    environment: str,
    realm: str,
    bound_to: str,
    value: Optional[str],
    extra: Mapping[str, Any],
    ext_cache_key: str,
) -> dict[str, Any]:
    """The cache query of an app's or an on-behalf-of access token: the client's, then the
    field the token is bound to (``bound_to``: ``home_account_id``, None for an app token,
    or ``user_assertion_hash``), completed by ``access_token_query``."""
    query = {"client_id": client_id, "environment": environment, "realm": realm, bound_to: value}
    if extra or ext_cache_key:  # (a plain request's query is complete)
        access_token_query(query, extra, ext_cache_key)
    return query
