"""What the flows return and write: cache-hit and token-endpoint results, cache events."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from identitylib._cache._exact import FiledToken
from identitylib._flows._lookups import EXPIRY_SKEW, as_int
from identitylib._flows._state import AppState
from identitylib._log import PLAIN_FIELDS, SECRET_FIELDS, get_logger

logger = get_logger(__name__)


def cache_hit_result(entry: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The result of a cache hit, with MSAL's keys."""
    return _hit_result(entry, as_int(entry.get("expires_on")), now)


def fresh_hit_result(entry: Mapping[str, Any], now: float) -> dict[str, Any] | None:
    """``cache_hit_result`` of a token that may be served as it is (at least
    ``EXPIRY_SKEW`` seconds left, not past its ``refresh_on``); None otherwise (the full
    way then decides: refresh, background refresh, or a request). The cache-hit path of
    every rotating-key call: ``cache_hit_result`` written out."""
    try:
        expires_on = int(entry["expires_on"])
        secret = entry["secret"]
    except (KeyError, TypeError, ValueError):
        return None
    if expires_on - now < EXPIRY_SKEW:
        return None
    refresh_on = entry.get("refresh_on")
    if refresh_on:
        if now > as_int(refresh_on):
            return None
        return _hit_result(entry, expires_on, now)
    return {
        "access_token": secret,
        "token_type": entry.get("token_type") or "Bearer",
        "expires_in": expires_on - int(now),
        "token_source": "cache",
    }


def filed_hit_result(filed: FiledToken, now: float) -> dict[str, Any] | None:
    """:func:`fresh_hit_result` of a token as the exact-request index filed it: the same
    answer, from the expiry read when it was filed, while the entry still holds the very
    values it and the token type were read from (compared by identity: no string of the
    entry is read or parsed) and no ``refresh_on``. A token due for refresh, expiring, or
    edited in place since it was filed is judged from its entry as it is."""
    entry = filed.entry
    expires_on = filed.expires_on
    if (
        expires_on is None
        or entry.get("expires_on") is not filed.expires_raw
        or entry.get("token_type") is not filed.token_type_raw
        or entry.get("refresh_on") is not None
        or expires_on - now < EXPIRY_SKEW
    ):
        return fresh_hit_result(entry, now)
    secret = entry.get("secret")
    if secret is None:
        return fresh_hit_result(entry, now)
    return {
        "access_token": secret,
        "token_type": filed.token_type,
        "expires_in": expires_on - int(now),
        "token_source": "cache",
    }


def _hit_result(entry: Mapping[str, Any], expires_on: int, now: float) -> dict[str, Any]:
    result: dict[str, Any] = {
        "access_token": entry["secret"],
        "token_type": entry.get("token_type") or "Bearer",
        "expires_in": expires_on - int(now),
        "token_source": "cache",
    }
    refresh_on = entry.get("refresh_on")
    if refresh_on:
        result["refresh_on"] = as_int(refresh_on)
    return result


def serve_cached(
    cached: dict[str, Any] | None,
    refresh_due: bool,
    now: float,
    *,
    on_hit: Callable[[dict[str, Any]], None] | None = None,
    defer_refresh: Callable[[], None] | None = None,
) -> dict[str, Any] | None:
    """The cache-hit result a flow returns at once, or None when it must go to the network.

    A fresh token is served (``on_hit`` told of it); a token past its ``refresh_on`` is
    served too when the refresh can run in the background (``defer_refresh`` starts it).
    """
    if cached is None:
        return None
    if not refresh_due:
        logger.debug("Access token served from the cache")
        if on_hit is not None:
            on_hit(cached)
        return cache_hit_result(cached, now)
    if defer_refresh is not None:
        logger.debug("Refresh due: serving the cached token, refreshing in the background")
        defer_refresh()
        return cache_hit_result(cached, now)
    return None


def provider_result(response: Mapping[str, Any], now: float) -> dict[str, Any]:
    """A token endpoint result as returned to the app (MSAL's ``_clean_up`` rules): a
    new dict, ``response`` unchanged."""
    result: dict[str, Any] = {}
    for k, v in response.items():  # (a loop: a comprehension costs a frame)
        if k[:1] != "_":
            result[k] = v
    refresh_in = result.pop("refresh_in", None)
    if isinstance(refresh_in, int):
        result["refresh_on"] = int(now) + refresh_in
    result["token_source"] = "identity_provider"
    return result


def cache_event(
    state: AppState,
    scopes: Sequence[str],
    token_endpoint: str,
    grant_type: str,
    response: Mapping[str, Any],
    data: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event a token cache's ``add()`` receives (MSAL's event shape, minus secrets).

    It holds ``response`` itself, not a copy: the parsed body, which the flow no longer
    uses once it made the app's result from it (:func:`provider_result`, made first).
    ``extra``: more event keys (e.g. ``ext_cache_key``, ``user_assertion_hash``)."""
    plain: dict[str, Any] = {}
    if data:
        for k, v in data.items():  # (a loop: a comprehension costs a frame)
            if k in PLAIN_FIELDS or (k not in SECRET_FIELDS and k.lower() not in SECRET_FIELDS):
                plain[k] = v
    event: dict[str, Any] = {
        "client_id": state.client_id,
        "scope": list(scopes),
        "token_endpoint": token_endpoint,
        "grant_type": grant_type,
        "response": response,
        "params": {},
        "data": plain,
        "environment": state.authority.environment,
    }
    if extra:
        event.update(extra)
    return event
