"""The ``claims`` request parameter: client capabilities merged with a claims challenge."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def merge_claims(
    claims_challenge: str | None, client_capabilities: Sequence[str] | None
) -> str | None:
    """Merge capabilities (as ``access_token.xms_cc``) into a claims challenge JSON string.

    Raises ValueError when ``claims_challenge`` is not a JSON object.
    """
    if not claims_challenge and not client_capabilities:
        return None
    merged: dict[str, Any] = {}
    if claims_challenge:
        try:
            parsed = json.loads(claims_challenge)
        except (TypeError, json.JSONDecodeError):
            raise ValueError("claims_challenge must be a JSON object string") from None
        if not isinstance(parsed, dict):
            raise ValueError("claims_challenge must be a JSON object string")
        merged = parsed
    if client_capabilities:
        access_token = merged.setdefault("access_token", {})
        if not isinstance(access_token, dict):
            raise ValueError("claims_challenge has a non-object 'access_token' member")
        access_token["xms_cc"] = {"values": list(client_capabilities)}
    return json.dumps(merged, separators=(",", ":"))
