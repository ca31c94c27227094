"""Claims challenges in ``WWW-Authenticate`` headers (wire formats §12).

A resource that wants more from a token than it got (Conditional Access step-up, a
revoked session under Continuous Access Evaluation) answers 401 with a challenge such as::

    WWW-Authenticate: Bearer realm="", authorization_uri="https://login.microsoftonline.com/
        common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4i..."

The ``claims`` parameter is base64 of a claims-request JSON object; the app passes the
decoded JSON as ``claims_challenge`` to its next token request. This module parses such
headers (RFC 9110 §11.6.1 syntax, leniently) and builds them, with no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

#: Headers longer than this (characters) are not parsed: no real challenge comes close.
MAX_HEADER = 64 * 1024
#: The ``error`` value of a claims challenge.
INSUFFICIENT_CLAIMS = "insufficient_claims"

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACE = frozenset(" \t\r\n")
_HEADER_NAME = "www-authenticate:"


@dataclass
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: its scheme and parameters.

    Parameter names are lower-cased; a repeated parameter keeps its first value.
    """

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None


def _skip(text: str, pos: int, chars: frozenset[str]) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _token(text: str, pos: int) -> tuple[str, int]:
    end = _skip(text, pos, _TCHAR)
    return text[pos:end], end


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """A quoted-string starting at ``text[pos] == '"'``; an unterminated one runs to the end."""
    out: list[str] = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    return "".join(out), pos


def _bare_value(text: str, pos: int) -> tuple[str, int]:
    """An unquoted value: everything up to white space or a comma (base64 ``=`` included)."""
    end = pos
    while end < len(text) and text[end] not in _SPACE and text[end] != ",":
        end += 1
    return text[pos:end], end


def parse_www_authenticate(header: str) -> list[Challenge]:
    """The challenges of a ``WWW-Authenticate`` value (several headers joined by commas).

    Lenient: stray characters are skipped, an unterminated quoted string ends the header,
    a parameter before any scheme goes to a challenge with scheme ``""``. Never raises for
    a string; returns [] for anything else or an over-long header.
    """
    if not isinstance(header, str) or len(header) > MAX_HEADER:
        return []
    text = header.strip()
    if text[: len(_HEADER_NAME)].lower() == _HEADER_NAME:
        text = text[len(_HEADER_NAME) :]
    challenges: list[Challenge] = []
    current: Challenge | None = None
    pos, end = 0, len(text)
    while pos < end:
        pos = _skip(text, pos, _SPACE | {","})
        if pos >= end:
            break
        name, after = _token(text, pos)
        if not name:
            pos += 1  # not a token character: skip it
            continue
        pos = _skip(text, after, _SPACE)
        if pos < end and text[pos] == "=":
            equals_end = _skip(text, pos, frozenset("="))
            value_start = _skip(text, equals_end, _SPACE)
            if value_start >= end or text[value_start] == ",":
                # ``name==`` then nothing: a token68 (e.g. base64 credentials), not a param.
                if current is not None and not current.params and current.token68 is None:
                    current.token68 = name + text[pos:equals_end]
                pos = value_start
                continue
            value_start = _skip(text, pos + 1, _SPACE)
            if text[value_start] == '"':
                value, pos = _quoted(text, value_start)
            else:
                value, pos = _bare_value(text, value_start)
            if current is None:
                current = Challenge("")
                challenges.append(current)
            current.params.setdefault(name.lower(), value)
        else:
            current = Challenge(name)
            challenges.append(current)
    return challenges


def decode_claims(value: str) -> str | None:
    """The claims-request JSON carried by a challenge's ``claims`` parameter, else None.

    Accepts standard or URL-safe base64, with or without padding, and plain JSON. The
    result is the decoded text, checked to be a non-empty JSON object.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if not text.startswith("{"):
        cleaned = "".join(text.split()).replace("-", "+").replace("_", "/").rstrip("=")
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            text = base64.b64decode(cleaned, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        text = text.lstrip("\ufeff").strip()
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or not parsed:
        return None
    return text


def parse_claims_challenge(www_authenticate: str) -> str | None:
    """The ``claims_challenge`` to pass to the next token request, from a 401's
    ``WWW-Authenticate`` header; None when the header carries no claims challenge.

    Several challenges may be present (joined by commas); the one with
    ``error="insufficient_claims"`` and a ``claims`` parameter wins, else the first with a
    decodable ``claims`` (CAE revocations of some resources say ``error="invalid_token"``).
    The base64 value is decoded (standard or URL-safe, padding optional; plain JSON is
    accepted too). Never raises: garbage gives None.

    >>> parse_claims_challenge('Bearer realm="", error="insufficient_claims", '
    ...     'claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"')
    '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
    """
    try:
        challenges = parse_www_authenticate(www_authenticate)
        ranked = sorted(
            (c for c in challenges if "claims" in c.params),
            key=lambda c: c.params.get("error", "").lower() != INSUFFICIENT_CLAIMS,
        )
        for challenge in ranked:
            claims = decode_claims(challenge.params["claims"])
            if claims is not None:
                return claims
    except Exception:  # documented: never raises, whatever the input
        return None
    return None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def claims_challenge_header(
    claims: str,
    *,
    authorization_uri: str | None = None,
    realm: str = "",
    error: str = INSUFFICIENT_CLAIMS,
    scheme: str = "Bearer",
) -> str:
    """A ``WWW-Authenticate`` value relaying ``claims`` (a claims JSON object string), as
    Entra-protected APIs send it: the claims in standard base64 with padding.

    A web API that gets ``interaction_required`` with ``claims`` from an on-behalf-of
    request answers its caller 401 with this header. Raises ValueError when ``claims``
    is not a JSON object string.
    """
    if decode_claims(claims) is None or not claims.strip().startswith("{"):
        raise ValueError("claims must be a JSON object string, e.g. the 'claims' of an error")
    encoded = base64.b64encode(claims.strip().encode("utf-8")).decode("ascii")
    parts = [f"realm={_quote(realm)}"]
    if authorization_uri:
        parts.append(f"authorization_uri={_quote(authorization_uri)}")
    parts += [f"error={_quote(error)}", f"claims={_quote(encoded)}"]
    return f"{scheme} " + ", ".join(parts)
