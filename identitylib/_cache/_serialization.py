"""Reading and writing the serialized (unified schema) cache JSON.

Big caches are read and written with ``msgspec`` (a dependency on CPython) when it is
installed. Reading validates the whole text in one pass but decodes lazily (see
``_raw.py``): each entry stays raw JSON until read (and with big entries each section
until read), so a process that loads a big cache and serves one hit decodes little, and
the loaded text is held instead of (smaller than) the decoded dicts. Writing copies what
was never read verbatim (its spacing and escapes as read; whatever was decoded or written
is written compact), and a cache never read since loaded writes the text it was loaded
from.

``bytes`` (what a file holds) are read as they are when they are ASCII, as json and msal
write them, without being decoded into a ``str`` first; other bytes are decoded as UTF-8.

Anything msgspec refuses to read (NaN, lone surrogates, ...) is read by ``json``, eagerly,
so what is accepted and the error messages stay the standard library's; content with
non-ASCII text is written by ``json`` (which escapes it). The one difference in output: a
non-finite float, which no token cache holds, is written as ``null`` (standard JSON)
rather than ``NaN``.

Entries of a known section that are not JSON objects are dropped with a warning: at
``deserialize()`` for a text read eagerly, when the section is first read for one read
lazily (a section never read is written back as it was read, as msal would).
"""

from __future__ import annotations

import json
from contextlib import suppress
from functools import cache
from operator import itemgetter
from typing import Any, Callable, NamedTuple, Optional

from identitylib._log import get_logger
from identitylib.exceptions import TokenCacheError

from ._keys import CredentialType
from ._raw import Loaded, LoadedText, RawBacked

logger = get_logger(__name__)

KNOWN_SECTIONS = (
    CredentialType.ACCESS_TOKEN,
    CredentialType.REFRESH_TOKEN,
    CredentialType.ID_TOKEN,
    CredentialType.ACCOUNT,
    CredentialType.APP_METADATA,
)


#: Below this many characters (or entries) the standard library is as quick, and importing
#: msgspec (a few milliseconds, once) would cost more than it saves.
FAST_PATH_MIN_CHARS = 64 * 1024
FAST_PATH_MIN_ENTRIES = 100
_OPENING_BRACE = ord("{")
_FIRST = itemgetter(0)
_VIEW: Callable[[Any], memoryview] = memoryview

#: Splitting a section into its raw entries costs about 250 bytes per entry (a key, a
#: view, a slot), decoded dicts about 830 (msal's: Entra tokens, 30 claims). Below this
#: many characters per entry (judged from the first _SAMPLE_CHARS of the text) sections
#: are split at load, in the same pass, and the first lookup has its keys at hand; above
#: it they stay one raw text each until read, and the cache holds little beyond the text
#: (workloads 13 and 14 of bench/run.py).
SPLIT_AT_LOAD_MAX_ENTRY_CHARS = 1024
_SAMPLE_CHARS = 64 * 1024


class _Msgspec(NamedTuple):
    decode: Callable[[Any], Any]
    encode: Callable[[Any], bytes]
    #: Decodes a JSON object into {key: raw value}, validating the values' JSON.
    decode_raw_values: Callable[[Any], dict[str, Any]]
    #: The same, one level down: {key: {key: raw value}} (every value an object).
    decode_raw_entries: Callable[[Any], dict[str, dict[str, Any]]]
    raw_type: type


@cache
def _msgspec_json() -> Optional[_Msgspec]:
    try:
        import msgspec
        import msgspec.json
    except ImportError:  # not on this interpreter (PyPy) or not installed
        return None
    raw_values = msgspec.json.Decoder(dict[str, msgspec.Raw])
    raw_entries = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])
    return _Msgspec(
        msgspec.json.decode,
        msgspec.json.encode,
        raw_values.decode,
        raw_entries.decode,
        msgspec.Raw,
    )


def dump_state(sections: dict[str, Any]) -> str:
    """Compact JSON of the sections (ASCII, as ``json.dumps`` writes it)."""
    text = sections.loaded_text() if isinstance(sections, RawBacked) else None
    if text is not None and text.isascii():
        # Never read since loaded: the text it was loaded from.
        return text if isinstance(text, str) else text.decode("ascii")
    big = isinstance(sections, RawBacked) or _entry_count(sections) >= FAST_PATH_MIN_ENTRIES
    fast = _msgspec_json() if big else None
    if fast is not None:
        # What is still raw is written verbatim. A value msgspec cannot write (json says
        # what is wrong) or non-ASCII text (json.dumps escapes it): json's output.
        with suppress(Exception):
            return fast.encode(sections).decode("ascii")
    return json.dumps(sections, separators=(",", ":"))


def _entry_count(sections: dict[str, Any]) -> int:
    return sum(len(section) for section in sections.values() if isinstance(section, dict))


def _parse(text: Loaded) -> Any:
    fast = _msgspec_json() if len(text) >= FAST_PATH_MIN_CHARS else None
    if fast is not None:
        # Anything msgspec refuses, json decides on (and words the error).
        with suppress(Exception):
            return _lazy_sections(fast, text)
    # (as text: json would take bytes with a NUL among the first four for UTF-16 or -32)
    return json.loads(text if isinstance(text, str) else text.decode("ascii"))


def _lazy_sections(fast: _Msgspec, text: Loaded) -> RawBacked:
    """The top-level object of ``text``, validated, with every section still raw (split
    into its raw entries already when they are small)."""
    loaded = LoadedText(text)
    if _entries_look_small(text):
        with suppress(Exception):  # (a top-level value that is not an object)
            return _split_sections(fast, fast.decode_raw_entries(text), loaded)
    sections = fast.decode_raw_values(text)
    for name in KNOWN_SECTIONS:
        section = sections.get(name)
        if section is not None and not _is_object(section):
            raise ValueError(f"{name} is not an object")  # read again by json, which says so
    # Every raw value holds on to the whole text: all but the largest get their own copy,
    # so that once the largest is decoded (its entries read), the text can go.
    largest = max(sections, key=lambda name: len(sections[name]), default=None)
    for name, raw in sections.items():
        if name != largest:
            sections[name] = raw.copy()
    return RawBacked(sections, _section_decoder(fast, loaded), fast.raw_type, loaded_from=loaded)


def _entries_look_small(text: Loaded) -> bool:
    """The entries at the start of ``text`` are small (see SPLIT_AT_LOAD_MAX_ENTRY_CHARS)."""
    sample = text[:_SAMPLE_CHARS]
    if isinstance(sample, bytes):
        entries = sample.count(b'"credential_type"') + sample.count(b'"authority_type"')
    else:
        entries = sample.count('"credential_type"') + sample.count('"authority_type"')
    return 0 < len(sample) < entries * SPLIT_AT_LOAD_MAX_ENTRY_CHARS


def _split_sections(fast: _Msgspec, sections: dict[str, Any], loaded: LoadedText) -> RawBacked:
    entry = _entry_decoder(fast)
    largest = max(sections, key=lambda name: len(sections[name]), default=None)
    for name, entries in sections.items():
        if name != largest:  # (see _lazy_sections: the largest alone holds the text)
            sections[name] = {key: raw.copy() for key, raw in entries.items()}
    return RawBacked(
        {
            name: RawBacked(
                _objects_of(name, entries) if name in KNOWN_SECTIONS else entries,
                entry,
                fast.raw_type,
                loaded_from=loaded,
            )
            for name, entries in sections.items()
        },
        loaded_from=loaded,
    )


def _is_object(raw: Any) -> bool:
    return memoryview(raw)[0] == _OPENING_BRACE


def _decode_value(fast: _Msgspec, raw: Any) -> Any:
    try:
        return fast.decode(raw)
    except Exception:  # e.g. a number out of msgspec's range: json reads it as msal does
        return json.loads(bytes(raw))


def _entry_decoder(fast: _Msgspec) -> Callable[[str, Any], Any]:
    def entry(_key: str, raw: Any) -> Any:
        return _decode_value(fast, raw)

    return entry


def _section_decoder(fast: _Msgspec, loaded: LoadedText) -> Callable[[str, Any], Any]:
    entry = _entry_decoder(fast)

    def section(name: str, raw: Any) -> Any:
        if name not in KNOWN_SECTIONS:
            return _decode_value(fast, raw)
        entries = _objects_of(name, fast.decode_raw_values(raw))  # (validated already)
        return RawBacked(entries, entry, fast.raw_type, source=id(raw), loaded_from=loaded)

    return section


def _objects_of(name: str, entries: dict[str, Any]) -> dict[str, Any]:
    """``entries`` (raw) without those that are not JSON objects (dropped with a warning)."""
    first_bytes = bytes(map(_FIRST, map(_VIEW, entries.values())))  # (a loop in C)
    if first_bytes.count(_OPENING_BRACE) != len(entries):
        dropped = [key for key, value in entries.items() if not _is_object(value)]
        for key in dropped:
            del entries[key]
        _warn_dropped(name, len(dropped))
    return entries


def load_state(state: Any) -> dict[str, Any]:
    """Sections parsed from ``state`` (None/"" -> {}; a ``str``, or ``bytes`` of UTF-8
    text), or TokenCacheError.

    Entries of a known section that are not objects are dropped with a warning;
    unknown sections and fields are kept as they are.
    """
    if state is None or (isinstance(state, (str, bytes, bytearray)) and not state):
        return {}
    if isinstance(state, (bytes, bytearray)):
        text = _text_of(bytes(state))
    elif isinstance(state, str):
        text = state
    else:
        raise TokenCacheError(f"The token cache state must be a str, not {type(state).__name__}")
    try:
        sections = _parse(text)
    except RecursionError:
        raise TokenCacheError("The token cache JSON is nested too deeply") from None
    except ValueError as error:
        raise TokenCacheError(f"The token cache is not valid JSON: {error}") from None
    if isinstance(sections, RawBacked):
        return sections
    if not isinstance(sections, dict):
        raise TokenCacheError(f"The token cache JSON must be an object, not {_json_type(sections)}")
    for name in KNOWN_SECTIONS:
        if name in sections:
            sections[name] = _entries_of(name, sections[name])
    return sections


def _text_of(data: bytes) -> Loaded:
    """The bytes of a cache as read: kept as they are when ASCII (what json and msal write:
    valid UTF-8, read by msgspec without a copy into a ``str``), else decoded."""
    if data.isascii():
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TokenCacheError(f"The token cache is not UTF-8 text: {error}") from None


def _entries_of(name: str, section: Any) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise TokenCacheError(
            f"The token cache section {name!r} must be an object, not {_json_type(section)}"
        )
    if all(type(entry) is dict for entry in section.values()):
        return section  # the usual case: no copy (time and peak memory of a big cache)
    entries = {key: entry for key, entry in section.items() if isinstance(entry, dict)}
    _warn_dropped(name, len(section) - len(entries))
    return entries


def _warn_dropped(name: str, dropped: int) -> None:
    if dropped:
        logger.warning(
            "Dropped %d %s entr%s that %s not JSON objects while loading the token cache",
            dropped,
            name,
            "y" if dropped == 1 else "ies",
            "is" if dropped == 1 else "are",
        )


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")
