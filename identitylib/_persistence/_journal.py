"""The changes a cache made since it last synchronised with its persistence.

Each change is per key: the entry now stored (an upsert) or None (a removal), plus the
entry the key held when this cache first changed it in the current period (``base``).
Replaying the journal on top of a freshly read file merges this process's changes with
everyone else's:

* an upsert wins (last writer wins, per key), unless the stored entry is newer by its
  own clock (``cached_at`` of access tokens, ``last_modification_time`` of refresh
  tokens): a change that waited through a lock outage never replaces a fresher token;
* a removal removes the key only if it still holds what this cache removed (``base``)
  or nothing: an entry another process wrote meanwhile under the same key (say a fresh
  access token replacing the expired one this process purged) survives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

from identitylib._cache._keys import CredentialType
from identitylib._cache._store import IndexedSections

Entry = dict[str, Any]


@dataclass
class Change:
    """One key's net change: ``entry`` (None = removed) over ``base``."""

    base: Optional[Entry]
    entry: Optional[Entry]


class Journal:
    """Pending key-level changes, per (section, key), in first-change order."""

    __slots__ = ("_changes",)

    def __init__(self) -> None:
        self._changes: dict[tuple[str, str], Change] = {}

    def __len__(self) -> int:
        return len(self._changes)

    def __bool__(self) -> bool:
        return bool(self._changes)

    def __iter__(self) -> Iterator[tuple[str, str, Change]]:
        for (section, key), change in self._changes.items():
            yield section, key, change

    def record(self, section: str, key: str, entry: Optional[Entry], base: Optional[Entry]) -> None:
        """Note that ``key`` now holds ``entry`` (None: removed); ``base`` is what it
        held just before (kept from the first change of the period)."""
        change = self._changes.get((section, key))
        if change is None:
            self._changes[(section, key)] = Change(base=base, entry=entry)
        else:
            change.entry = entry

    def clear(self) -> None:
        self._changes.clear()

    def replay(self, store: IndexedSections) -> int:
        """Apply the changes to ``store`` (a freshly loaded file); returns how many were
        dropped because another process wrote a newer entry under the key meanwhile."""
        conflicts = 0
        for section, key, change in self:
            current = store.section(section).get(key)
            if change.entry is not None:
                if isinstance(current, dict) and _newer(section, current, change.entry):
                    conflicts += 1
                else:
                    store.put(section, key, change.entry)
                continue
            if current is None:
                continue
            if current == change.base:
                store.delete(section, key)
            else:
                conflicts += 1
        return conflicts


#: The field that dates an entry, per section (entries of other sections are undated).
_CLOCKS = {
    CredentialType.ACCESS_TOKEN: "cached_at",
    CredentialType.REFRESH_TOKEN: "last_modification_time",
}


def _newer(section: str, stored: Entry, mine: Entry) -> bool:
    """Whether ``stored`` was written later than ``mine`` by their own timestamps."""
    field = _CLOCKS.get(section)
    if field is None:
        return False
    try:
        return int(stored[field]) > int(mine[field])
    except (KeyError, TypeError, ValueError):
        return False
