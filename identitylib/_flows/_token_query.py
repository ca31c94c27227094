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
