"""The cache-hit paths of one application: the exact-request lookup and the same-call memo."""

from __future__ import annotations

from typing import Any

from identitylib._authority import Authority
from identitylib._cache._access import assertion_hash
from identitylib._cache._exact import (
    RequestKey,
    account_request,
    app_request,
    assertion_request,
    request_prefix,
    scope_text,
)
from identitylib._cache._own import ExactReader, exact_reader, plain_in_memory, stamped_entry
from identitylib._flows._lookups import ACCESS_TOKEN
from identitylib._flows._shaping import fresh_hit_result


def _no_reader(request: RequestKey) -> None:
    return None


class HitMemo:
    """How one application answers a cache hit without a flow.

    **The general path** (:meth:`app_token`, :meth:`account_token`,
    :meth:`assertion_token`): the one cached token filed under the request's exact key
    (environment, client, realm, home account or assertion, scopes: see
    ``identitylib/_cache/_exact.py``), if servable as it is: one locked dict lookup in
    the cache's exact-request index. The key's first part, which only the app decides, is
    built once (:meth:`_request_prefix`), once the authority's realm is known for good.
    None sends the call the full way (no such token, several, expiring, due for refresh,
    or arguments the full path must judge).

    **The same-call memo** (:meth:`get`, :meth:`remember`): a call that the general path
    could not answer but the full path served from the cache is remembered with the entry
    that served it. The same call is then answered by checking that the very entry is
    still stored under its key, that the access-token section did not change meanwhile
    (its stamp, read under the cache's lock: a token added, removed or replaced could
    change which entry a lookup prefers), and the expiry and ``refresh_on`` times.

    Both are used only with identitylib's own in-memory caches that have no access hooks
    and no bound (with hooks a persisted cache must be reloaded; with a bound, hits feed
    the LRU order), and not with ``timing=True`` (``enabled``).
    """

    #: Memorized calls per app; past this the memo starts over.
    LIMIT = 4096

    __slots__ = ("_authority", "_cache", "_client_id", "_memo", "_prefix", "_read", "enabled")

    def __init__(
        self, cache: Any, authority: Authority, client_id: str, *, enabled: bool = True
    ) -> None:
        self.enabled = enabled and plain_in_memory(cache)
        self._cache = cache
        self._authority = authority
        self._client_id = client_id
        self._read: ExactReader = exact_reader(cache) or _no_reader
        self._prefix: str | None = None
        self._memo: dict[Any, tuple[str, dict[str, Any], Any]] = {}

    # ------------------------------------------------------------ the general path

    def _request_prefix(self) -> str | None:
        """The app's part of its request keys: kept once the authority's metadata (and so
        its realm) is known, which never changes afterwards; before that, the realm a
        GUID or alias tenant implies, if any (not kept)."""
        authority = self._authority
        known = authority.known_metadata
        realm = known.realm if known is not None else authority.expected_realm
        if realm is None:
            return None
        prefix = request_prefix(authority.environment, self._client_id, realm)
        if known is not None:
            self._prefix = prefix
        return prefix

    def app_token(self, scopes: list[Any], now: float) -> dict[str, Any] | None:
        """The cache-hit result of an app-token request for ``scopes``, or None."""
        if not self.enabled:
            return None
        prefix = self._prefix or self._request_prefix()
        text = scope_text(scopes, user_flow=False)
        if prefix is None or text is None:
            return None
        return self._served(app_request(prefix, text), now)

    def account_token(
        self, scopes: list[Any], home_account_id: str, now: float
    ) -> dict[str, Any] | None:
        """The cache-hit result of a silent request for ``home_account_id``, or None."""
        if not self.enabled:
            return None
        prefix = self._prefix or self._request_prefix()
        text = scope_text(scopes, user_flow=True)
        if prefix is None or text is None:
            return None
        return self._served(account_request(prefix, home_account_id, text), now)

    def assertion_token(
        self, user_assertion: str, scopes: list[Any], now: float
    ) -> dict[str, Any] | None:
        """The cache-hit result of an on-behalf-of request with ``user_assertion``, or None."""
        if not self.enabled:
            return None
        prefix = self._prefix or self._request_prefix()
        text = scope_text(scopes, user_flow=True)
        assertion = user_assertion.strip()
        if prefix is None or text is None or not assertion:
            return None
        return self._served(assertion_request(prefix, assertion_hash(assertion), text), now)

    def _served(self, request: RequestKey, now: float) -> dict[str, Any] | None:
        found = self._read(request)
        return None if found is None else fresh_hit_result(found[1], now)

    # ------------------------------------------------------------ the same-call memo

    def get(self, key: Any, now: float) -> dict[str, Any] | None:
        """The cache-hit result of the entry that served ``key`` last time, if it is still
        stored and servable as it is."""
        if not self.enabled:
            return None
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
        return fresh_hit_result(entry, now)

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
