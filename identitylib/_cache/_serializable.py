"""``SerializableTokenCache``: a TokenCache that reads and writes the unified JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

from ._serialization import dump_state, load_state
from ._token_cache import PLAIN_MODIFY, TokenCache


class SerializableTokenCache(TokenCache):
    """A TokenCache that (de)serializes to the unified cache JSON.

    ``has_state_changed`` tells whether the content changed since the last
    ``serialize()`` or ``deserialize()``.
    """

    has_state_changed: bool = False
    _add_marks_state = True  # (TokenCache.add marks it: no override of add around it)

    def modify(
        self,
        credential_type: str,
        old_entry: Mapping[str, Any],
        new_key_value_pairs: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().modify(credential_type, old_entry, new_key_value_pairs)
        self.has_state_changed = True

    def _discard(self, credential_type: str, key: str) -> None:
        super()._discard(credential_type, key)
        self.has_state_changed = True

    def _state_changed(self) -> bool:
        return self.has_state_changed

    def deserialize(self, state: Optional[Union[str, bytes]]) -> None:
        """Replace the whole content with ``state`` (None or "" empties the cache): the
        JSON text, or its bytes as a file holds them (UTF-8; ASCII bytes are read without
        being decoded into a ``str`` first).

        Raises TokenCacheError on malformed input and keeps the previous content.
        """
        sections = load_state(state)
        with self._lock:
            self._store.reset(sections)
            self._cache = sections
            self.has_state_changed = False

    def serialize(self) -> str:
        """The content as compact JSON; resets ``has_state_changed``."""
        with self._lock:
            self.has_state_changed = False
            return dump_state(self._cache)


PLAIN_MODIFY.add(SerializableTokenCache.modify)  # (it marks the content changed, as add does)
