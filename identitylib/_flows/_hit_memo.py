"""The cache-hit fast path: which cache entry served which call."""

from __future__ import annotations

from typing import Any

from identitylib._cache._access import assertion_hash
from identitylib._cache._exact import request_key, requested_scope_key
from identitylib._cache._own import exact_request_hit, plain_in_memory, stamped_entry
from identitylib._flows._lookups import ACCESS_TOKEN, first_usable


class HitMemo:
    """Per-app memory of the cache entry that served a call: the cache-hit fast path.

    After a call was served from the cache, the same call (same method, scopes, account
    or assertion, no extra options) is answered by checking that the very entry is still
    stored under its key, that the access-token section did not change meanwhile (its
    stamp, read under the cache's lock: a token added, removed or replaced could change
    which entry a lookup prefers), and the expiry and ``refresh_on`` times, all without
    building a query. Anything else goes the full way. Used only with identitylib's own
    in-memory caches that have no access hooks and no bound (with hooks a persisted cache
    must be reloaded; with a bound, hits feed the LRU order).
    """

    #: Memorized calls per app; past this the memo starts over.
    LIMIT = 4096

    def __init__(self, cache: Any) -> None:
        self.enabled = plain_in_memory(cache)
        self._cache = cache
        self._memo: dict[Any, tuple[str, dict[str, Any], Any]] = {}

    def get(self, key: Any, now: float) -> dict[str, Any] | None:
        """The entry that served ``key`` last time, if still stored and fresh."""
        try:
            found = self._memo.get(key)
        except TypeError:  # unhashable (invalid) arguments: the full path reports them
            return None
        if found is None:
            return None
        raw_key, entry, stamp = found
        stamp_now, stored = stamped_entry(self._cache, ACCESS_TOKEN, raw_key)
        if stored is not entry or stamp_now != stamp:
            self._memo.pop(key, None)
            return None
        usable, refresh_due = first_usable((entry,), now)
        return None if refresh_due else usable

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
        hashed_assertion: str | None = None,
    ) -> dict[str, Any] | None:
        """The general hit path: the one cached token filed under this request's exact key
        (environment, client, realm, home account or assertion, scopes: see
        ``identitylib/_cache/_exact.py``), if servable now; None sends the call the full
        way (no such token, several, expiring, or arguments the full path must judge).
        A token served is remembered under ``memo_key`` (the same call's fast path).
        ``hashed_assertion``: the assertion's hash when the caller made it already."""
        if realm is None or not self.enabled:
            return None
        user_flow = home_account_id is not None or user_assertion is not None
        scope_key = requested_scope_key(scopes, user_flow=user_flow)
        if scope_key is None:
            return None
        hashed = None
        if user_assertion is not None:
            if not user_assertion.strip():
                return None
            hashed = hashed_assertion or assertion_hash(user_assertion.strip())
        request = request_key(environment, client_id, realm, home_account_id, hashed, scope_key)
        found = exact_request_hit(self._cache, request)
        if found is None:
            return None
        usable, refresh_due = first_usable((found[1],), now)
        if usable is None or refresh_due:
            return None
        if memo_key is not None:
            self.remember(memo_key, usable)
        return usable

    def remember(self, key: Any, entry: dict[str, Any]) -> None:
        """``entry`` served the call ``key`` (a cache hit on the full path)."""
        if not self.enabled:
            return
        raw_key = self._cache.key_makers[ACCESS_TOKEN](**entry)
        stamp, stored = stamped_entry(self._cache, ACCESS_TOKEN, raw_key)
        if stored is not entry:
            return
        if len(self._memo) >= self.LIMIT:
            self._memo.clear()
        self._memo[key] = (raw_key, entry, stamp)
