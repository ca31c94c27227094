"""Cache lookups and result shaping shared by every flow."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from typing import Any, TypeVar

from identitylib._application._state import AppState
from identitylib._cache._access import assertion_hash
from identitylib._cache._exact import request_key, requested_scope_key
from identitylib._cache._own import (
    exact_request_hit,
    has_async_hooks,
    indexed_access_tokens_in_forms,
    own_cache,
)
from identitylib._log import SECRET_FIELDS, get_logger
from identitylib._protocol._messages import CacheHook, HttpResponse, Step

logger = get_logger(__name__)
T = TypeVar("T")

#: A cached access token with less than this many seconds left is not served.
EXPIRY_SKEW = 300

ACCESS_TOKEN = "AccessToken"

#: Why the current call goes to the token endpoint (MSAL.NET's CacheRefreshReason, in
#: snake case): set by the flows, read by the app's ``timing`` report.
REFRESH_REASON: ContextVar[str | None] = ContextVar("identitylib_refresh_reason", default=None)


def note_refresh_reason(cached: Any, forced: Any) -> None:
    """Record why a token is requested: a cached token in its refresh window, a
    force_refresh or claims challenge that skipped the cache, or no usable cached token."""
    if cached is not None:
        reason = "proactive_refresh"
    elif forced:
        reason = "force_refresh_or_claims"
    else:
        reason = "no_cached_access_token"
    REFRESH_REASON.set(reason)


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
    for refresh (past its ``refresh_on``)."""
    for entry in entries:
        if _int(entry.get("expires_on")) - now < EXPIRY_SKEW:
            continue
        refresh_on = entry.get("refresh_on")
        return entry, bool(refresh_on) and now > _int(refresh_on)
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
    """The cache's access hooks around one lookup or write.

    A no-op for a foreign cache (msal's, a mock): it has no access hooks of identitylib's
    kind, and is never asked whether it has (see ``identitylib/_cache/_own.py``).
    """
    own = own_cache(cache)
    if own is None:
        return nullcontext()
    return own.access(partition_key, client_id, is_app_cache)


def in_cache(
    cache: Any,
    partition_key: str | None,
    client_id: str,
    is_app_cache: bool,
    work: Callable[[], T],
) -> Generator[Step, HttpResponse, T]:
    """Run ``work`` (lookups and writes, no I/O) between the cache's access hooks.

    Sync hooks run in line (no step yielded); a cache with coroutine hooks gets a
    :class:`CacheHook` step before and after, which the asyncio driver awaits.
    """
    if not has_async_hooks(cache):
        with cache_access(cache, partition_key, client_id, is_app_cache=is_app_cache):
            return work()
    yield CacheHook(cache, partition_key, client_id, is_app_cache, entering=True)
    try:
        return work()
    finally:
        yield CacheHook(cache, partition_key, client_id, is_app_cache, entering=False)


def _servable(entry: dict[str, Any], now: float) -> bool:
    """At least ``EXPIRY_SKEW`` seconds left and not past ``refresh_on``."""
    if _int(entry.get("expires_on")) - now < EXPIRY_SKEW:
        return False
    refresh_on = entry.get("refresh_on")
    return not (refresh_on and now > _int(refresh_on))


class HitMemo:
    """Per-app memory of the cache entry that served a call: the cache-hit fast path.

    After a call was served from the cache, the same call (same method, scopes, account
    or assertion, no extra options) is answered by checking that the very entry is still
    stored under its key, that the access-token section did not change size meanwhile
    (a token added or removed, which could change which entry a lookup prefers), and the
    expiry and ``refresh_on`` times, all without building a query or taking the cache's
    lock. Anything else goes the full way. Used only with identitylib's own in-memory
    caches that have no access hooks and no bound (with hooks a persisted cache must be
    reloaded; with a bound, hits feed the LRU order).
    """

    #: Memorized calls per app; past this the memo starts over.
    LIMIT = 4096

    def __init__(self, cache: Any) -> None:
        from identitylib._cache import SerializableTokenCache, TokenCache

        self.enabled = (
            type(cache) in (TokenCache, SerializableTokenCache)  # exactly ours: no overrides
            and cache._before_access is None
            and cache._after_access is None
            and cache._store.bound is None
        )
        self._cache = cache
        self._memo: dict[Any, tuple[str, dict[str, Any], int]] = {}

    def get(self, key: Any, now: float) -> dict[str, Any] | None:
        """The entry that served ``key`` last time, if still stored and fresh."""
        try:
            found = self._memo.get(key)
        except TypeError:  # unhashable (invalid) arguments: the full path reports them
            return None
        if found is None:
            return None
        raw_key, entry, size = found
        section: dict[str, Any] | None = self._cache._cache.get(ACCESS_TOKEN)
        if section is None or section.get(raw_key) is not entry or len(section) != size:
            self._memo.pop(key, None)
            return None
        return entry if _servable(entry, now) else None

    def find(
        self,
        now: float,
        scopes: Any,
        *,
        environment: str,
        client_id: str,
        realm: str | None,
        home_account_id: str | None = None,
        user_assertion: str | None = None,
        memo_key: Any = None,
    ) -> dict[str, Any] | None:
        """The general hit path: the one cached token filed under this request's exact key
        (environment, client, realm, home account or assertion, scopes: see
        ``identitylib/_cache/_exact.py``), if servable now; None sends the call the full
        way (no such token, several, expiring, or arguments the full path must judge).
        A token served is remembered under ``memo_key`` (the same call's fast path)."""
        if realm is None:
            return None
        user_flow = home_account_id is not None or user_assertion is not None
        scope_key = requested_scope_key(scopes, user_flow=user_flow)
        if scope_key is None:
            return None
        hashed = None
        if user_assertion is not None:
            if not user_assertion.strip():
                return None
            hashed = assertion_hash(user_assertion.strip())
        request = request_key(environment, client_id, realm, home_account_id, hashed, scope_key)
        found = exact_request_hit(self._cache, request)
        if found is None or not _servable(found[1], now):
            return None
        if memo_key is not None:
            if len(self._memo) >= self.LIMIT:
                self._memo.clear()
            self._memo[memo_key] = found
        return found[1]

    def remember(self, key: Any, entry: dict[str, Any]) -> None:
        """``entry`` served the call ``key`` (a cache hit on the full path)."""
        if not self.enabled:
            return
        cache = self._cache
        with cache._lock:
            section = cache._cache.get(ACCESS_TOKEN)
            if not section:
                return
            raw_key = cache.key_makers[ACCESS_TOKEN](**entry)
            if section.get(raw_key) is not entry:
                return
            if len(self._memo) >= self.LIMIT:
                self._memo.clear()
            self._memo[key] = (raw_key, entry, len(section))
