"""Cache lookups shared by the flows: the first usable access token, in any MSAL form."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from identitylib._cache._own import indexed_access_tokens_in_forms, may_match_access_token
from identitylib._flows._refresh_reason import note_expired

#: A cached access token with less than this many seconds left is not served.
EXPIRY_SKEW = 300

ACCESS_TOKEN = "AccessToken"


def as_int(value: Any, default: int = 0) -> int:
    """``int(value)``, or ``default`` for what is not a number (a cache entry's times)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def find_access_token(
    cache: Any, scopes: Sequence[str], query: Mapping[str, Any], now: float
) -> tuple[dict[str, Any] | None, bool]:
    """The first cached access token usable for ``scopes``, and whether a refresh is due.

    A token whose ``refresh_on`` has passed is returned with ``True`` so that the caller
    refreshes it and falls back to it if the refresh fails.
    """
    if not may_match_access_token(cache, query, scopes):
        return None, False  # No token could match: no search (the cache's index says so).
    matches = cache.search(ACCESS_TOKEN, target=list(scopes), query=dict(query), now=now)
    try:
        return first_usable(matches, now)
    finally:
        close = getattr(matches, "close", None)
        if close is not None:
            close()


def find_access_token_in_forms(
    cache: Any,
    scopes: Sequence[str],
    query: Mapping[str, Any],
    environments: Sequence[str],
    realms: Sequence[str],
    now: float,
) -> tuple[dict[str, Any] | None, bool]:
    """``find_access_token`` over the forms other MSAL libraries write (msal-node's,
    MSAL.NET's: see ``identitylib/_cache/_forms.py``) in ``environments`` x ``realms``.

    Only identitylib's own caches are read this way, through their indices; a foreign
    cache object (msal's) finds nothing here, as in msal.
    """
    found = indexed_access_tokens_in_forms(cache, scopes, query, environments, realms, now)
    return first_usable(found or (), now)


def first_usable(entries: Iterable[Any], now: float) -> tuple[dict[str, Any] | None, bool]:
    """The first entry with at least ``EXPIRY_SKEW`` seconds left, and whether it is due
    for refresh (past its ``refresh_on``). Finding only expired entries is noted as the
    call's refresh reason (``expired``)."""
    expired = False
    for entry in entries:
        if as_int(entry.get("expires_on")) - now < EXPIRY_SKEW:
            expired = True
            continue
        refresh_on = entry.get("refresh_on")
        return entry, bool(refresh_on) and now > as_int(refresh_on)
    if expired:
        note_expired()
    return None, False
