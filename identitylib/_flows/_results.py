"""Cache lookups and result shaping shared by every flow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from identitylib._application._state import AppState
from identitylib._log import SECRET_FIELDS

#: A cached access token with less than this many seconds left is not served.
EXPIRY_SKEW = 300

ACCESS_TOKEN = "AccessToken"


def _int(value: Any, default: int = 0) -> int:
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
    matches = cache.search(ACCESS_TOKEN, target=list(scopes), query=dict(query), now=now)
    try:
        for entry in matches:
            if _int(entry.get("expires_on")) - now < EXPIRY_SKEW:
                continue
            refresh_on = entry.get("refresh_on")
            return entry, bool(refresh_on) and now > _int(refresh_on)
    finally:
        close = getattr(matches, "close", None)
        if close is not None:
            close()
    return None, False


def cache_hit_result(entry: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The result of a cache hit, with MSAL's keys."""
    result: dict[str, Any] = {
        "access_token": entry["secret"],
        "token_type": entry.get("token_type") or "Bearer",
        "expires_in": _int(entry.get("expires_on")) - int(now),
        "token_source": "cache",
    }
    if entry.get("refresh_on"):
        result["refresh_on"] = _int(entry["refresh_on"])
    return result


def provider_result(response: Mapping[str, Any], now: float) -> dict[str, Any]:
    """A token endpoint result as returned to the app (MSAL's ``_clean_up`` rules)."""
    result = {k: v for k, v in response.items() if not k.startswith("_")}
    refresh_in = result.pop("refresh_in", None)
    if isinstance(refresh_in, int):
        result["refresh_on"] = int(now) + refresh_in
    result["token_source"] = "identity_provider"
    return result


def cache_event(
    state: AppState,
    *,
    scopes: Sequence[str],
    token_endpoint: str,
    grant_type: str,
    response: Mapping[str, Any],
    data: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The event a token cache's ``add()`` receives (MSAL's event shape, minus secrets)."""
    event: dict[str, Any] = {
        "client_id": state.client_id,
        "scope": list(scopes),
        "token_endpoint": token_endpoint,
        "grant_type": grant_type,
        "response": dict(response),
        "params": {},
        "data": {k: v for k, v in (data or {}).items() if k.lower() not in SECRET_FIELDS},
        "environment": state.environment,
    }
    event.update(extra)
    return event


def cache_access(
    cache: Any, partition_key: str | None, client_id: str, *, is_app_cache: bool
) -> AbstractContextManager[Any]:
    """The cache's access hooks around one lookup or write (no-op for foreign caches)."""
    access = getattr(cache, "access", None)
    if access is None:
        return nullcontext()
    return access(partition_key, client_id, is_app_cache)  # type: ignore[no-any-return]
