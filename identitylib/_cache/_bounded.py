"""An optional size bound for the in-memory token cache.

``TokenCache(max_entries=..., max_bytes=...)`` keeps the cache within the bound by
evicting, whenever a write takes it over:

1. expired access tokens, the soonest expired first;
2. then access tokens, the least recently used first (a lookup that returns a token and
   a write of it both count as a use);
3. only when no access token is left to evict: the least recently written or used other
   entries. An entry owned by a home account (refresh token, ID token, account) takes
   that account's other entries of those kinds with it, so the cache never keeps an
   account without its refresh token or a refresh token without its account.

The entries being written are never evicted by their own write (all the entries of one
token response, for ``add()``); when nothing else can go, the cache stays over its bound
until the next write. Sizes are estimates: the length of the
entry's compact JSON plus its key, as they would appear in ``serialize()``.

Every operation is O(1) (O(log n) for the expiry heap of access tokens); a cache without
a bound has no ``CacheBound`` at all, so the unbounded hot path pays one ``is None`` test.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import OrderedDict
from collections.abc import Collection, Hashable, Mapping
from typing import Any, Callable, Optional

from identitylib._log import get_logger

from ._keys import CredentialType
from ._seconds import seconds

logger = get_logger(__name__)

#: Bytes counted per entry on top of its key and JSON (quotes, colon, comma).
ENTRY_OVERHEAD = 4
_AT = CredentialType.ACCESS_TOKEN
_ACCOUNT_OWNED = frozenset(
    {CredentialType.REFRESH_TOKEN, CredentialType.ID_TOKEN, CredentialType.ACCOUNT}
)

Slot = tuple[str, str]  # (credential type, key)
_Owner = tuple[Hashable, Hashable]  # (home_account_id, environment lower-cased)


def new_bound(max_entries: Optional[int], max_bytes: Optional[int]) -> Optional[CacheBound]:
    """A CacheBound, or None when neither limit is set (the cache is unbounded)."""
    if max_entries is None and max_bytes is None:
        return None
    return CacheBound(max_entries=max_entries, max_bytes=max_bytes)


def _limit(name: str, value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def entry_size(key: str, entry: Mapping[str, Any]) -> int:
    """Estimated serialized size of one entry under ``key``, in bytes."""
    try:
        body = json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        body = repr(entry)
    return len(key.encode("utf-8")) + len(body.encode("utf-8")) + ENTRY_OVERHEAD


def _owner(credential_type: str, entry: Mapping[str, Any]) -> Optional[_Owner]:
    if credential_type not in _ACCOUNT_OWNED:
        return None
    home = entry.get("home_account_id")
    if not home or not isinstance(home, Hashable):
        return None
    environment = entry.get("environment")
    if isinstance(environment, str):
        environment = environment.lower()
    return home, environment if isinstance(environment, Hashable) else repr(environment)


class CacheBound:
    """Bookkeeping of a bounded cache: sizes, recency and expiry of its entries.

    The store (``IndexedSections``) reports every entry it stores or removes, the cache
    reports lookup hits, and after a write the store has the bound :meth:`enforce`
    itself, evicting through the store.
    Callers hold the cache lock.
    """

    def __init__(
        self,
        *,
        max_entries: Optional[int] = None,
        max_bytes: Optional[int] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = _limit("max_entries", max_entries)
        self.max_bytes = _limit("max_bytes", max_bytes)
        self.clock = clock
        self.bytes = 0
        #: Entries evicted so far (diagnostics).
        self.evicted = 0
        self._tokens: OrderedDict[str, int] = OrderedDict()  # AT key -> size, LRU first
        self._others: OrderedDict[Slot, int] = OrderedDict()  # other entries, LRU first
        self._owner_of: dict[Slot, _Owner] = {}
        self._owned: dict[_Owner, set[Slot]] = {}
        self._expiry: list[tuple[int, str]] = []  # heap of (expires_on, AT key), lazy
        self._expires: dict[str, int] = {}

    @property
    def entries(self) -> int:
        """Number of entries tracked (every dict entry of every section)."""
        return len(self._tokens) + len(self._others)

    def clear(self) -> None:
        """Forget everything (the store is about to re-add its content)."""
        self.bytes = 0
        self._tokens.clear()
        self._others.clear()
        self._owner_of.clear()
        self._owned.clear()
        self._expiry.clear()
        self._expires.clear()

    def _size(self, key: str, entry: Mapping[str, Any]) -> int:
        return entry_size(key, entry) if self.max_bytes is not None else 0

    # --------------------------------------------------------------- tracking

    def added(self, credential_type: str, key: str, entry: Mapping[str, Any]) -> None:
        """``entry`` was stored under ``key`` (a new entry, or an overwrite)."""
        self.removed(credential_type, key)
        size = self._size(key, entry)
        self.bytes += size
        if credential_type == _AT:
            self._tokens[key] = size
            expires_on = seconds(entry.get("expires_on"))
            if expires_on is not None:
                self._expires[key] = expires_on
                heapq.heappush(self._expiry, (expires_on, key))
                if len(self._expiry) > 2 * len(self._expires) + 64:
                    self._expiry = [(when, k) for k, when in self._expires.items()]
                    heapq.heapify(self._expiry)
            return
        slot = (credential_type, key)
        self._others[slot] = size
        owner = _owner(credential_type, entry)
        if owner is not None:
            self._owner_of[slot] = owner
            self._owned.setdefault(owner, set()).add(slot)

    def removed(self, credential_type: str, key: str) -> None:
        """The entry under ``key`` is gone (no-op if it was not tracked)."""
        if credential_type == _AT:
            size = self._tokens.pop(key, None)
            if size is not None:
                self.bytes -= size
                self._expires.pop(key, None)  # Its heap item is now stale.
            return
        slot = (credential_type, key)
        size = self._others.pop(slot, None)
        if size is None:
            return
        self.bytes -= size
        owner = self._owner_of.pop(slot, None)
        if owner is not None:
            group = self._owned.get(owner)
            if group is not None:
                group.discard(slot)
                if not group:
                    del self._owned[owner]

    def used(self, credential_type: str, key: str) -> None:
        """A lookup returned the entry under ``key``: it is now the most recently used."""
        if credential_type == _AT:
            if key in self._tokens:
                self._tokens.move_to_end(key)
        else:
            slot = (credential_type, key)
            if slot in self._others:
                self._others.move_to_end(slot)

    # --------------------------------------------------------------- eviction

    def over(self) -> bool:
        """The cache holds more entries or bytes than allowed."""
        return (self.max_entries is not None and self.entries > self.max_entries) or (
            self.max_bytes is not None and self.bytes > self.max_bytes
        )

    def victims(self, protect: Collection[Slot] = ()) -> list[Slot]:
        """The next entries to evict (none of ``protect``); [] when nothing can go."""
        expired = self._next_expired(protect)
        if expired is not None:
            return [(_AT, expired)]
        for key in self._tokens:
            if (_AT, key) not in protect:
                return [(_AT, key)]
        for slot in self._others:
            if slot in protect:
                continue
            owner = self._owner_of.get(slot)
            group = sorted(self._owned.get(owner, ())) if owner is not None else [slot]
            if any(member in protect for member in group):
                continue
            return group
        return []

    def _next_expired(self, protect: Collection[Slot]) -> Optional[str]:
        now = self.clock()
        heap = self._expiry
        while heap:
            expires_on, key = heap[0]
            if self._expires.get(key) != expires_on:
                heapq.heappop(heap)  # Stale: removed or rewritten since.
                continue
            if expires_on >= now or (_AT, key) in protect:
                return None
            heapq.heappop(heap)
            return key
        return None

    def track(self, sections: Mapping[str, Any], evict: Callable[[str, str], None]) -> None:
        """Track the whole content of ``sections`` afresh (in section order), then
        :meth:`enforce` the bound."""
        self.clear()
        for credential_type, section in sections.items():  # (decodes everything)
            if isinstance(section, dict):
                for key, entry in section.items():
                    if isinstance(entry, dict):
                        self.added(credential_type, key, entry)
        self.enforce((), evict)

    def enforce(self, protect: Collection[Slot], evict: Callable[[str, str], None]) -> None:
        """Evict until within the bound, never ``protect`` (the entries just written):
        ``evict(credential_type, key)`` removes an entry from the store (its index
        included), then it is no longer tracked here."""
        evicted = 0
        while self.over():
            victims = self.victims(protect)
            if not victims:
                break
            for credential_type, key in victims:
                evict(credential_type, key)
                self.removed(credential_type, key)
                evicted += 1
        if evicted:
            self.evicted += evicted
            logger.debug("Token cache over its bound: evicted %d entries", evicted)

    def order(self) -> list[Slot]:
        """Every tracked entry in eviction order, ignoring expiry (for tests)."""
        return [(_AT, key) for key in self._tokens] + list(self._others)
