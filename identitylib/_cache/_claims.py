"""Decoding (never validating) the identity parts of a token response."""

from __future__ import annotations

import functools
from typing import Any

from identitylib._protocol._jwt import decode_json_segment


def decode_base64_json(segment: Any) -> dict[str, Any]:
    """The JSON object in a base64 (url-safe or standard, padded or not) string, else {}."""
    try:
        return decode_json_segment(segment) if segment else {}
    except ValueError:
        return {}


def id_token_claims(id_token: Any) -> dict[str, Any]:
    """Claims of a JWT ID token, decoded without validation; {} if it is not a JWT."""
    if not isinstance(id_token, str):
        return {}
    parts = id_token.split(".")
    return decode_base64_json(parts[1]) if len(parts) >= 2 else {}


def home_account_id_from(client_info: Any, claims: dict[str, Any]) -> str | None:
    """``uid.utid`` from client_info, else the ID token ``sub``, else None."""
    if isinstance(client_info, str) and client_info:
        home = _home_of_client_info(client_info)
        if home is not None:
            return home
    sub = claims.get("sub")
    return sub if _is_id(sub) else None


@functools.lru_cache(maxsize=256)
def _home_of_client_info(client_info: str) -> str | None:
    """``uid.utid`` of a ``client_info`` string, else None (decoded once per string: a
    token response's client_info is read by the parser, the cache write and the flow)."""
    info = decode_base64_json(client_info)
    uid, utid = info.get("uid"), info.get("utid")
    return f"{uid}.{utid}" if _is_id(uid) and _is_id(utid) else None


def username_from(claims: dict[str, Any]) -> str | None:
    """``preferred_username`` (Entra) or ``upn`` (ADFS) of the ID token."""
    for claim in ("preferred_username", "upn"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def account_of(result: dict[str, Any]) -> dict[str, Any] | None:
    """The account a user-token result belongs to, as ``get_accounts()`` shows it (without
    ``environment``, which is the authority's); None when the result names no user.

    For callers whose token cache is partitioned per user (a web app's), where the account
    cannot be looked up without knowing its partition first.
    """
    claims = result.get("id_token_claims")
    if not isinstance(claims, dict):
        claims = id_token_claims(result.get("id_token"))
    home_account_id = home_account_id_from(result.get("client_info"), claims)
    if home_account_id is None:
        return None
    local = claims.get("oid", claims.get("sub"))
    account: dict[str, Any] = {
        "home_account_id": home_account_id,
        "local_account_id": local if isinstance(local, str) else None,
        "username": username_from(claims) or "",
    }
    if isinstance(claims.get("tid"), str):
        account["realm"] = claims["tid"]
    return account
