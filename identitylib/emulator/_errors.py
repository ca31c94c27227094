"""Entra's OAuth error envelope (wire-formats §2.2) and the exception that carries one.

Model code raises :class:`OAuthError`; the provider turns it into a JSON reply with
``error_reply`` (token-style endpoints) or into redirect parameters (``/authorize``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, Optional

from ._reply import Reply

#: Headers of every token / devicecode answer, success or error (§2.1).
NO_STORE_HEADERS = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "Expires": "-1"}


class OAuthError(Exception):
    """An OAuth error with its AADSTS number; HTTP 401 for ``invalid_client``, else 400."""

    def __init__(
        self,
        error: str,
        code: int,
        text: str,
        *,
        status: Optional[int] = None,
        suberror: Optional[str] = None,
        claims: Optional[str] = None,
    ) -> None:
        super().__init__(f"{error}: AADSTS{code}: {text}")
        self.error = error
        self.code = code
        self.text = text
        self.status = status if status is not None else (401 if error == "invalid_client" else 400)
        self.suberror = suberror
        self.claims = claims


def missing_parameter(name: str) -> OAuthError:
    """AADSTS900144: a required body (or query) parameter is absent."""
    return OAuthError(
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def malformed(text: str) -> OAuthError:
    """AADSTS9002313: a request Entra would call malformed."""
    return OAuthError("invalid_request", 9002313, f"Invalid request. {text}")


def unknown_tenant(tenant: str, *, discovery: bool) -> OAuthError:
    """AADSTS90002: ``invalid_tenant`` on discovery endpoints, ``invalid_request`` elsewhere."""
    return OAuthError(
        "invalid_tenant" if discovery else "invalid_request",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def timestamp(now: float) -> str:
    """Entra's error timestamp: ``yyyy-MM-dd HH:mm:ssZ`` in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(now))


def correlation_of(headers: Optional[Mapping[str, str]]) -> str:
    """The caller's ``client-request-id`` when it sent one, else a fresh GUID."""
    sent = str((headers or {}).get("client-request-id") or "").strip()
    return sent[:100] if sent else str(uuid.uuid4())


def error_fields(
    err: OAuthError, *, base_url: Optional[str], correlation_id: str, trace_id: str, now: float
) -> dict[str, Any]:
    """The envelope members (also used, form-encoded, on ``/authorize`` error redirects)."""
    stamp = timestamp(now)
    body: dict[str, Any] = {
        "error": err.error,
        "error_description": (
            f"AADSTS{err.code}: {err.text}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"
        ),
        "error_codes": [err.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    }
    if base_url:
        body["error_uri"] = f"{base_url}/error?code={err.code}"
    if err.suberror:
        body["suberror"] = err.suberror
    if err.claims:
        body["claims"] = err.claims
    return body


def error_reply(
    err: OAuthError,
    *,
    base_url: Optional[str],
    correlation_id: str,
    now: float,
    headers: Optional[dict[str, str]] = None,
) -> Reply:
    """A JSON error reply; ``x-ms-request-id`` carries the envelope's ``trace_id``."""
    trace_id = str(uuid.uuid4())
    body = error_fields(
        err, base_url=base_url, correlation_id=correlation_id, trace_id=trace_id, now=now
    )
    reply_headers = dict(headers or {})
    reply_headers["x-ms-request-id"] = trace_id
    return Reply(status=err.status, json=body, headers=reply_headers)


def server_error_reply(*, base_url: Optional[str], correlation_id: str, now: float) -> Reply:
    """The 500 answer to an unexpected internal failure (never a traceback)."""
    err = OAuthError(
        "server_error", 90100, "An unexpected error occurred in the emulator.", status=500
    )
    return error_reply(err, base_url=base_url, correlation_id=correlation_id, now=now)
