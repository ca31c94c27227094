"""The ``claims`` request parameter: a claims challenge, client capabilities and
client-originated (forwarded) claims, merged into one JSON object."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def parse_claims(claims: str, name: str = "claims_challenge") -> dict[str, Any]:
    """Parse a claims JSON object string; raise ValueError naming ``name`` otherwise."""
    try:
        parsed = json.loads(claims)
    except (TypeError, ValueError, RecursionError):
        raise ValueError(f"{name} must be a JSON object string") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{name} must be a JSON object string")
    return parsed


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_claims(
    claims_challenge: str | None,
    client_capabilities: Sequence[str] | None,
    forwarded_client_claims: str | None = None,
) -> str | None:
    """The ``claims`` parameter, or None when there is nothing to send.

    Capabilities become ``access_token.xms_cc``; forwarded claims are deep-merged on top.
    Raises ValueError when a claims string is not a JSON object.
    """
    merged: dict[str, Any] = parse_claims(claims_challenge) if claims_challenge else {}
    if client_capabilities:
        access_token = merged.setdefault("access_token", {})
        if not isinstance(access_token, dict):
            raise ValueError("claims_challenge has a non-object 'access_token' member")
        access_token["xms_cc"] = {"values": list(client_capabilities)}
    if forwarded_client_claims:
        merged = _deep_merge(
            merged, parse_claims(forwarded_client_claims, "forwarded_client_claims")
        )
    return json.dumps(merged, separators=(",", ":")) if merged else None
