"""Error results made by the library itself, in the shape of an OAuth error body."""

from __future__ import annotations

from typing import Any

#: The server's answer could not be understood (not JSON, wrong shape, bad values).
INVALID_RESPONSE = "invalid_response"
#: The authority is unknown, unreachable in a usable way, or its metadata is unsafe.
INVALID_AUTHORITY = "invalid_authority"
#: The client credential could not produce a client assertion.
INVALID_CLIENT_CREDENTIAL = "invalid_client_credential"


def error_result(
    error: str, description: str, *, correlation_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Build an MSAL-shaped error dict (``error``, ``error_description``, ...)."""
    result: dict[str, Any] = {"error": error, "error_description": description}
    if correlation_id:
        result["correlation_id"] = correlation_id
    result.update(extra)
    return result


def is_error(result: Any) -> bool:
    """True when ``result`` is an error dict."""
    return isinstance(result, dict) and "error" in result


class FlowError(Exception):
    """Raised inside a flow to end it with an error result instead of a token."""

    def __init__(self, result: dict[str, Any]):
        super().__init__(result.get("error_description", result.get("error")))
        self.result = result
