"""Reading and writing the serialized (unified schema) cache JSON."""

from __future__ import annotations

import json
from typing import Any

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


def dump_state(sections: dict[str, Any]) -> str:
    """Compact JSON of the sections."""
    return json.dumps(sections, separators=(",", ":"))


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
        sections = json.loads(state)
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
