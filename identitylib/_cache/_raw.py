"""Dicts whose values stay raw JSON text until something reads them.

A big cache is loaded with ``msgspec`` (see ``_serialization.py``) as raw JSON: the whole
text is validated in one pass, but each entry is kept as its raw text (``msgspec.Raw``,
which references the loaded text rather than copying it) until read, and with big entries
each section is kept whole as its raw text until read. A process that loads a big cache
and serves one hit decodes a handful of entries. Holding the text costs less memory than
the decoded dicts would.

``RawBacked`` is a plain ``dict`` to every Python-level reader: item access, ``get``,
``pop``, ``setdefault``, ``items``, ``values``, copying, comparison, ``repr`` and pickling
see decoded values (each value is decoded once, under a lock, and replaces its raw text).
Code that reads the storage of a dict from C without calling its methods would see the
raw values: ``msgspec.json.encode`` does, and writes them verbatim, which is what
``serialize()`` wants (an untouched entry is written as it was read).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_values

#: Decodes the raw value stored under a key (the key is passed for messages).
Decoder = Callable[[str, Any], Any]

_DECODING = threading.RLock()  # taken last, held only while decoding one dict's values
_MISSING = object()


class _NeverRaw:
    """The raw type of a RawBacked built without one (``dict.fromkeys``, copies)."""


def _keep(_key: str, value: Any) -> Any:
    return value


#: What a cache is loaded from: text, or ASCII bytes (a file's content, read as is).
Loaded = Union[str, bytes]


class LoadedText:
    """The text a cache was loaded from (a ``str``, or ``bytes`` known to be ASCII), shared
    by the dicts decoded from it and let go by the first value any of them decodes (until
    then it says what they hold)."""

    __slots__ = ("text",)

    def __init__(self, text: Loaded) -> None:
        self.text: Optional[Loaded] = text


class RawBacked(dict[str, Any]):
    """A dict holding some values as raw JSON (instances of ``raw_type``), decoded by
    ``decode`` on first read.

    ``source`` is the ``id()`` of the raw value the dict was decoded from (None: none) and
    ``loaded`` its size then: a store tells an untouched section from an edited one by
    them, without holding on to the raw text. ``loaded_from`` is the text of the load.
    """

    __slots__ = ("_decode", "_raw_type", "loaded", "loaded_from", "source")

    def __init__(
        self,
        values: Any = (),
        decode: Decoder = _keep,
        raw_type: type = _NeverRaw,
        *,
        source: Optional[int] = None,
        loaded_from: Optional[LoadedText] = None,
    ) -> None:
        super().__init__(values)
        self._decode = decode
        self._raw_type = raw_type
        self.source = source
        self.loaded_from = loaded_from
        self.loaded = len(self)

    # ------------------------------------------------------------ raw access

    def loaded_text(self) -> Optional[Loaded]:
        """The text (or ASCII bytes) the dict was loaded from, if nothing was decoded,
        added or removed since (in it or in the dicts it holds)."""
        text = None if self.loaded_from is None else self.loaded_from.text
        return text if text is not None and self._untouched() else None

    def _untouched(self) -> bool:
        raw_type = self._raw_type
        return len(self) == self.loaded and all(
            type(value) is raw_type or (type(value) is RawBacked and value._untouched())
            for value in dict.values(self)
        )

    def _let_go_of_the_text(self) -> None:
        if self.loaded_from is not None:
            self.loaded_from.text = None

    def decode_all(self) -> None:
        """Decode every raw value in place."""
        raw_type = self._raw_type
        with _DECODING:
            for key, value in dict.items(self):
                if type(value) is raw_type:
                    self._let_go_of_the_text()
                    dict.__setitem__(self, key, self._decode(key, value))

    def _decoded(self, key: str, value: Any) -> Any:
        if type(value) is not self._raw_type:
            return value
        with _DECODING:
            current = dict.get(self, key, _MISSING)
            if current is _MISSING:  # Removed meanwhile: the caller still gets its value.
                return self._decode(key, value)
            if type(current) is not self._raw_type:
                return current  # Decoded meanwhile.
            self._let_go_of_the_text()
            decoded = self._decode(key, current)
            dict.__setitem__(self, key, decoded)
            return decoded

    # ------------------------------------------------- the dict API, decoded

    def __getitem__(self, key: str) -> Any:
        return self._decoded(key, dict.__getitem__(self, key))

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, _MISSING)
        return default if value is _MISSING else self._decoded(key, value)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            value = self[key]
            dict.pop(self, key, None)
            return value
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[str, Any]:
        key, value = dict.popitem(self)
        if type(value) is self._raw_type:
            value = self._decode(key, value)
        return key, value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        return dict.setdefault(self, key, default)

    def items(self) -> dict_items[str, Any]:
        self.decode_all()
        return dict.items(self)

    def values(self) -> dict_values[str, Any]:
        self.decode_all()
        return dict.values(self)

    def __iter__(self) -> Iterator[str]:
        # Overridden (unchanged) so that dict(), {**d} and dict.update() read the values
        # through __getitem__ rather than the storage.
        return dict.__iter__(self)

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        self.decode_all()
        if isinstance(other, RawBacked):
            other.decode_all()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __repr__(self) -> str:
        self.decode_all()
        return dict.__repr__(self)

    def __or__(self, other: Any) -> Any:
        if not isinstance(other, dict):
            return NotImplemented
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Any) -> Any:
        if not isinstance(other, dict):
            return NotImplemented
        merged = dict(other)
        merged.update(self.items())
        return merged

    def __reduce__(self) -> tuple[Any, ...]:
        return dict, (self.copy(),)  # pickles and copies as a plain dict


def stored_value(mapping: dict[str, Any], key: str) -> Any:
    """The value as stored under ``key`` (raw if undecoded), else None (any dict)."""
    return dict.get(mapping, key)


def decoded_from(current: Any, raw_id: int) -> bool:
    """``current`` is the dict decoded from the raw value whose ``id()`` is ``raw_id`` and
    has its size since."""
    return (
        type(current) is RawBacked and current.source == raw_id and len(current) == current.loaded
    )
