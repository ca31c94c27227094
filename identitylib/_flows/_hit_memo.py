"""The cache-hit fast path: which cache entry served which call."""

from __future__ import annotations

from typing import Any

from identitylib._cache._own import plain_in_memory, stamped_entry
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
