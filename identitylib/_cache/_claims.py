"""Decoding (never validating) the identity parts of a token response."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

#: Longest client_info or ID token segment decoded, in characters.
MAX_SEGMENT = 64 * 1024


def decode_base64_json(segment: Any) -> dict[str, Any]:
    """The JSON object in a base64 (url-safe or standard, padded or not) string, else {}."""
    if not isinstance(segment, str) or not segment or len(segment) > MAX_SEGMENT:
        return {}
    text = segment.strip().replace("-", "+").replace("_", "/").rstrip("=")
    text += "=" * (-len(text) % 4)
    try:
        decoded = json.loads(base64.b64decode(text, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def id_token_claims(id_token: Any) -> dict[str, Any]:
    """Claims of a JWT ID token, decoded without validation; {} if it is not a JWT."""
    if not isinstance(id_token, str):
        return {}
    parts = id_token.split(".")
    return decode_base64_json(parts[1]) if len(parts) >= 2 else {}


def home_account_id_from(client_info: Any, claims: dict[str, Any]) -> str | None:
    """``uid.utid`` from client_info, else the ID token ``sub``, else None."""
    info = decode_base64_json(client_info)
    uid, utid = info.get("uid"), info.get("utid")
    if _is_id(uid) and _is_id(utid):
        return f"{uid}.{utid}"
    sub = claims.get("sub")
    return sub if _is_id(sub) else None


def username_from(claims: dict[str, Any]) -> str | None:
    """``preferred_username`` (Entra) or ``upn`` (ADFS) of the ID token."""
    for claim in ("preferred_username", "upn"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value)
