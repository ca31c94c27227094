"""The token itself: the ``Authorization`` header, the JWT header and the signature."""

from __future__ import annotations

import json
import re
from typing import Any, Optional

import jwt
from jwt.exceptions import InvalidSignatureError, PyJWTError

from identitylib._log import hide
from identitylib._protocol._jwt import decode_json_segment

from ._errors import INVALID_REQUEST, TokenValidationError, invalid_token

#: Longest token accepted, in characters (Entra tokens with many groups stay far below).
MAX_TOKEN_LENGTH = 64 * 1024
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
_BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
_JWS = jwt.PyJWS()


def token_from_header(value: Optional[str]) -> str:
    """The bearer token of an ``Authorization`` header value."""
    if not isinstance(value, str) or not value.strip():
        raise TokenValidationError(
            INVALID_REQUEST, "No bearer token was sent (Authorization header)", token_missing=True
        )
    scheme = value.strip().split(" ", 1)[0]
    if scheme.lower() != "bearer":
        raise TokenValidationError(
            INVALID_REQUEST,
            f"The Authorization header uses the {scheme[:20]} scheme, not Bearer",
            token_missing=True,
        )
    match = _BEARER.fullmatch(value.strip())
    if match is None:
        raise TokenValidationError(
            INVALID_REQUEST, "The Authorization header is not 'Bearer <token>'"
        )
    return hide(match.group(1))


def unverified_header(token: Any) -> dict[str, Any]:
    """The JOSE header of a compact JWS, checked for shape only."""
    if not isinstance(token, str):
        raise invalid_token("The token is not a string")
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid_token("The token is too long")
    parts = token.split(".")
    if len(parts) == 5:
        raise invalid_token("Encrypted tokens (JWE) are not supported")
    if len(parts) != 3 or not all(parts):
        raise invalid_token("The token is not a JWT (three dot-separated parts)")
    try:
        # The header alone: PyJWT checks the whole token once, when it verifies it.
        header = decode_json_segment(parts[0])
    except ValueError:
        raise invalid_token("The token is malformed (not a compact JWS)") from None
    if "crit" in header or header.get("b64", True) is not True:
        raise invalid_token("The token uses critical header parameters this API does not know")
    return header


def verified_claims(token: str, key: Any, alg: str) -> dict[str, Any]:
    """The payload of ``token`` once its ``alg`` signature checks out with ``key``."""
    try:
        payload = _JWS.decode(token, key, algorithms=[alg])
    except InvalidSignatureError:
        raise invalid_token("The token's signature is invalid") from None
    except PyJWTError:
        raise invalid_token("The token could not be verified") from None
    try:
        claims = json.loads(payload)
    except (ValueError, RecursionError):
        raise invalid_token("The token's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise invalid_token("The token's payload is not a JSON object")
    return claims
