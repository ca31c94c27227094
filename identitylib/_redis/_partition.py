"""One partition of a RedisTokenCache in process memory, and the changes made to it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from identitylib._cache._event import seconds
from identitylib._cache._store import IndexedSections

Slot = tuple[str, str]  # (section, cache key)


def stamp(entry: Any) -> Optional[int]:
    """When an entry was written: ``last_modification_time``, else ``cached_at``.

    The merge keeps the newer of two entries under one key; entries without a stamp
    (ID tokens, accounts, app metadata) are simply replaced by the writer's.
    """
    if not isinstance(entry, Mapping):
        return None
    written = seconds(entry.get("last_modification_time"))
    return written if written is not None else seconds(entry.get("cached_at"))


@dataclass
class Changes:
    """What one process did to a partition since it last wrote it to Redis.

    ``puts`` maps a slot to the entry written there; ``deletes`` maps a slot to the stamp
    of the entry removed (None if it had none). ``replace`` means the whole content was
    swapped (``deserialize``, or ``_cache`` edited directly): the write then replaces the
    stored value instead of merging into it.
    """

    puts: dict[Slot, dict[str, Any]] = field(default_factory=dict)
    deletes: dict[Slot, Optional[int]] = field(default_factory=dict)
    replace: bool = False

    def __bool__(self) -> bool:
        return self.replace or bool(self.puts) or bool(self.deletes)

    def put(self, slot: Slot, entry: dict[str, Any]) -> None:
        self.deletes.pop(slot, None)
        self.puts[slot] = entry

    def delete(self, slot: Slot, entry: Any) -> None:
        self.puts.pop(slot, None)
        self.deletes[slot] = stamp(entry)

    def absorb(self, later: Changes) -> None:
        """Add changes made after these (the later ones win)."""
        if later.replace:
            self.puts, self.deletes, self.replace = dict(later.puts), dict(later.deletes), True
            return
        for slot, entry in later.puts.items():
            self.put(slot, entry)
        for slot, written in later.deletes.items():
            self.puts.pop(slot, None)
            self.deletes[slot] = written

    def payload(self) -> str:
        """The JSON the merge script reads: ``{"put": ..., "del": ..., "replace": ...}``."""
        puts: dict[str, dict[str, Any]] = {}
        for (section, key), entry in self.puts.items():
            puts.setdefault(section, {})[key] = entry
        deletes: dict[str, dict[str, Optional[int]]] = {}
        for (section, key), written in self.deletes.items():
            deletes.setdefault(section, {})[key] = written
        body = {"put": puts, "del": deletes, "replace": self.replace}
        return json.dumps(body, separators=(",", ":"), default=str)


class RecordingSections(IndexedSections):
    """IndexedSections that remember every put and delete made through them."""

    def __init__(self, sections: dict[str, Any]) -> None:
        self.changes = Changes()
        self._ready = False
        super().__init__(sections)
        self._ready = True

    def reset(self, sections: dict[str, Any]) -> None:
        super().reset(sections)
        if getattr(self, "_ready", False):  # Replaced from outside: write it all back.
            self.changes = Changes(replace=True)

    def put(self, credential_type: str, key: str, entry: dict[str, Any]) -> None:
        super().put(credential_type, key, entry)
        if not self.changes.replace:
            self.changes.put((credential_type, key), entry)

    def delete(self, credential_type: str, key: str) -> None:
        old = self.section(credential_type).get(key)
        super().delete(credential_type, key)
        if isinstance(old, dict) and not self.changes.replace:
            self.changes.delete((credential_type, key), old)

    def take_changes(self) -> Changes:
        """The changes recorded so far (a replace carries the whole content); resets."""
        changes, self.changes = self.changes, Changes()
        if changes.replace:
            changes.puts = {
                (name, key): entry
                for name, section in self.sections.items()
                if isinstance(section, dict)
                for key, entry in section.items()
                if isinstance(entry, dict)
            }
            changes.deletes = {}
        return changes


@dataclass
class Partition:
    """A partition's content in this process, and how it relates to Redis.

    ``raw`` is the value last read from or written to Redis (None: no such key), and
    ``synced_at`` the monotonic time of that (-inf: never). ``pending`` holds changes
    not yet written because Redis was unreachable.
    """

    store: RecordingSections
    raw: Any = None
    synced_at: float = -math.inf
    pending: Changes = field(default_factory=Changes)

    @property
    def sections(self) -> dict[str, Any]:
        return self.store.sections
