"""Reading and writing the serialized (unified schema) cache JSON.

Big caches are parsed and written with ``msgspec`` (a dependency on CPython) when it is
installed: about a third faster to parse and three to four times faster to write than the
standard library, with the same memory. Anything it refuses to read (NaN, lone
surrogates, ...) is read by ``json``, so what is accepted and the error messages stay the
standard library's; content with non-ASCII text is written by ``json`` (which escapes it).
The one difference in output: a non-finite float, which no token cache holds, is written as
``null`` (standard JSON) rather than ``NaN``.
"""

from __future__ import annotations

import json
from contextlib import suppress
from functools import cache
from typing import Any, Callable, Optional

from identitylib._log import get_logger
from identitylib.exceptions import TokenCacheError

from ._keys import CredentialType

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


@cache
def _msgspec_json() -> Optional[tuple[Callable[[str], Any], Callable[[Any], bytes]]]:
    try:
        import msgspec.json
    except ImportError:  # not on this interpreter (PyPy) or not installed
        return None
    return msgspec.json.decode, msgspec.json.encode


def dump_state(sections: dict[str, Any]) -> str:
    """Compact JSON of the sections (ASCII, as ``json.dumps`` writes it)."""
    fast = _msgspec_json() if _entry_count(sections) >= FAST_PATH_MIN_ENTRIES else None
    if fast is not None:
        raw = b""
        with suppress(Exception):  # a value msgspec cannot write: json says what is wrong
            raw = fast[1](sections)
        if raw and raw.isascii():  # json.dumps escapes non-ASCII; keep its exact output
            return raw.decode("ascii")
    return json.dumps(sections, separators=(",", ":"))


def _entry_count(sections: dict[str, Any]) -> int:
    return sum(len(section) for section in sections.values() if isinstance(section, dict))


def _parse(text: str) -> Any:
    fast = _msgspec_json() if len(text) >= FAST_PATH_MIN_CHARS else None
    if fast is not None:
        # Anything msgspec refuses, json decides on (and words the error).
        with suppress(Exception):
            return fast[0](text)
    return json.loads(text)


def load_state(state: Any) -> dict[str, Any]:
    """Sections parsed from ``state`` (None/"" -> {}), or TokenCacheError.

    Entries of a known section that are not objects are dropped with a warning;
    unknown sections and fields are kept as they are.
    """
    if state is None or (isinstance(state, (str, bytes, bytearray)) and not state):
        return {}
    if isinstance(state, (bytes, bytearray)):
        try:
            state = bytes(state).decode("utf-8")
        except UnicodeDecodeError as error:
            raise TokenCacheError(f"The token cache is not UTF-8 text: {error}") from None
    if not isinstance(state, str):
        raise TokenCacheError(f"The token cache state must be a str, not {type(state).__name__}")
    try:
        sections = _parse(state)
    except RecursionError:
        raise TokenCacheError("The token cache JSON is nested too deeply") from None
    except ValueError as error:
        raise TokenCacheError(f"The token cache is not valid JSON: {error}") from None
    if not isinstance(sections, dict):
        raise TokenCacheError(f"The token cache JSON must be an object, not {_json_type(sections)}")
    for name in KNOWN_SECTIONS:
        if name in sections:
            sections[name] = _entries_of(name, sections[name])
    return sections


def _entries_of(name: str, section: Any) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise TokenCacheError(
            f"The token cache section {name!r} must be an object, not {_json_type(section)}"
        )
    if all(type(entry) is dict for entry in section.values()):
        return section  # the usual case: no copy (time and peak memory of a big cache)
    entries = {key: entry for key, entry in section.items() if isinstance(entry, dict)}
    dropped = len(section) - len(entries)
    if dropped:
        logger.warning(
            "Dropped %d %s entr%s that %s not JSON objects while loading the token cache",
            dropped,
            name,
            "y" if dropped == 1 else "ies",
            "is" if dropped == 1 else "are",
        )
    return entries


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")
