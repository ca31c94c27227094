"""Decoding (never validating) the JWTs and ``client_info`` a token response carries."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def b64url_decode(segment: str) -> bytes:
    """Decode base64url (or standard base64) text with or without padding."""
    cleaned = segment.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    return base64.b64decode(cleaned, validate=True)


#: Standard base64's two symbols -> base64url's.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url_encode(raw: bytes) -> str:
    """Encode bytes as base64url without padding (``base64.urlsafe_b64encode``'s text,
    from binascii directly: two Python calls fewer per request id and assertion hash)."""
    encoded = binascii.b2a_base64(raw, newline=False).translate(_TO_URLSAFE)
    return encoded.rstrip(b"=").decode("ascii")


#: Longest base64url JSON segment decoded, in characters.
MAX_SEGMENT = 64 * 1024


def decode_json_segment(segment: str) -> dict[str, Any]:
    """Decode one base64url JSON object; raise ValueError on anything else."""
    if not isinstance(segment, str) or len(segment) > MAX_SEGMENT:
        raise ValueError("not a base64url string of a reasonable size")
    try:
        value = json.loads(b64url_decode(segment).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not base64url-encoded JSON: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise ValueError("base64url JSON is not an object")
    return value


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """Return the payload of a compact JWT without checking its signature."""
    if not isinstance(token, str):
        raise ValueError("a JWT must be a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWT (expected three dot-separated parts)")
    return decode_json_segment(parts[1])


def decode_client_info(client_info: str) -> dict[str, Any]:
    """Decode ``client_info`` (``{"uid": ..., "utid": ...}``); raise ValueError if malformed."""
    return decode_json_segment(client_info)
