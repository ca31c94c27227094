"""The sections dict of a token cache, and the marks that notice it changed outside the
cache's store."""

from __future__ import annotations

from typing import Any

from identitylib._log import get_logger

from ._raw import decoded_from, stored_value
from ._serialization import KNOWN_SECTIONS

__all__ = ["Mark", "MarkedSections"]

logger = get_logger(__name__)

#: (section, size) of a dict section; (None, id) of a section still raw.
Mark = tuple[Any, int]


class MarkedSections:
    """A sections dict (credential type -> key -> entry) and a mark per known section.

    ``sync`` notices when the dict was replaced or a section edited without the store
    (apps and persistence layers poke at ``TokenCache._cache``) and then calls ``reset``
    (a section still raw JSON, see ``_raw.py``, is decoded by its first read: not an
    edit). ``epoch`` is bumped by every reset; ``writes`` counts the store's puts and
    deletes per section: together they stamp a section's content for callers that memoize
    derived data. Callers hold the cache lock.
    """

    def __init__(self, sections: dict[str, Any]) -> None:
        self.sections = sections
        self._marks: dict[str, Mark] = {}
        self.epoch = 0
        self.writes: dict[str, int] = {}
        self.reset(sections)

    def stamp(self, credential_type: str) -> tuple[int, int]:
        """Changes whenever the section's content may have changed (caller holds the lock
        and has synced the store)."""
        return self.epoch, self.writes.get(credential_type, 0)

    def reset(self, sections: dict[str, Any]) -> None:
        """Take ``sections`` as they are now: each known section marked."""
        self.sections = sections
        self.epoch += 1
        self._marks = {name: self._mark(name) for name in KNOWN_SECTIONS}

    def sync(self, sections: dict[str, Any], credential_type: str | None = None) -> None:
        """Re-index if ``sections`` is not what was indexed, or a section changed size.

        With ``credential_type``, only that section is checked (the others are checked
        when they are used): the hot path stays one dict lookup and one ``len``.
        """
        if sections is self.sections:
            if credential_type is not None:
                recorded = self._marks.get(credential_type)
                section = dict.get(sections, credential_type)  # (as_marked, in line: every
                if (  # read and write syncs its section)
                    recorded is not None
                    and recorded[0] is section is not None
                    and recorded[1] == len(section)
                ) or self._unchanged(credential_type):
                    return
            elif all(self._unchanged(name) for name in self._marks):
                return
        logger.debug("Token cache content changed outside the cache API; re-indexing")
        self.reset(sections)

    def as_marked(self, sections: dict[str, Any], credential_type: str) -> bool:
        """Whether ``sections`` is the dict marked and its ``credential_type`` section the
        dict marked, at the size marked: then ``sync`` has nothing to do. Reads only (dict
        reads are atomic): callers without the lock may ask."""
        recorded = self._marks.get(credential_type)
        section = dict.get(sections, credential_type)  # (as _mark reads it)
        return (
            sections is self.sections
            and recorded is not None
            and recorded[0] is section is not None
            and recorded[1] == len(section)
        )

    def _unchanged(self, credential_type: str) -> bool:
        """The section is what was marked (a read that decoded it re-marks it)."""
        recorded = self._marks.get(credential_type)
        if recorded is None:
            return True
        current = self._mark(credential_type)
        if _same(current, recorded):
            return True
        if recorded[0] is None and decoded_from(current[0], recorded[1]):
            self._marks[credential_type] = current  # Decoded by a read since marked.
            return True
        return False

    def _mark(self, credential_type: str) -> Mark:
        """(section, size) of a dict section; (None, id) of anything else (a section still
        raw: marked without holding on to it)."""
        section = stored_value(self.sections, credential_type)
        if isinstance(section, dict):
            return section, len(section)
        return None, id(section)

    def section(self, credential_type: str) -> dict[str, Any]:
        """The section's entries ({} when absent or not a dict)."""
        section = dict.get(self.sections, credential_type)  # (the C lookup first:)
        if not isinstance(section, dict):
            section = self.sections.get(credential_type)  # decodes a section still raw
        return section if isinstance(section, dict) else {}

    def entry(self, credential_type: str, key: str) -> Any:
        """The entry under ``key`` (decoded if still raw), else None."""
        section = self.section(credential_type)
        entry = dict.get(section, key)
        return entry if entry is None or isinstance(entry, dict) else section.get(key)

    def _remark(self, credential_type: str) -> None:
        if credential_type in self._marks:
            self._marks[credential_type] = self._mark(credential_type)


def _same(current: Mark, recorded: Mark) -> bool:
    return current[0] is recorded[0] and current[1] == recorded[1]
