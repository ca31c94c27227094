"""The device authorization grant (RFC 8628; wire formats §7.4), without I/O.

Two requests: the device authorization request (``/devicecode``), whose answer becomes
MSAL's *flow dict*, and the polling request to the token endpoint. The polling schedule
(interval floor, ``slow_down``, expiry) is decided here too, so every driver polls alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from identitylib._protocol._errors import INVALID_RESPONSE, error_result
from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._protocol._request import form_fields
from identitylib._protocol._scopes import to_wire
from identitylib._protocol._token_response import coerce_seconds, parse_json_object

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"

#: Seconds between polls when the server names no usable interval (MSAL's default).
DEFAULT_INTERVAL = 5
#: Polls are never closer together than this, whatever the server says.
MIN_INTERVAL = 1
#: What ``slow_down`` adds to the interval (RFC 8628 §3.5).
SLOW_DOWN_STEP = 5
#: Lifetime of a device code when the server names none (MSAL's default).
DEFAULT_EXPIRES_IN = 1800
#: Longest lifetime believed: a device code that "never expires" would poll forever.
MAX_EXPIRES_IN = 3600
#: Errors after which polling continues.
RETRIABLE_ERRORS = frozenset({"authorization_pending", "slow_down"})
#: Key of the flow dict holding the correlation id of the whole flow (MSAL's name).
CORRELATION_ID = "_correlation_id"
#: Message used when the server sent none (Entra's English wording).
MESSAGE_TEMPLATE = (
    "To sign in, use a web browser to open the page {uri} and enter the code {code} "
    "to authenticate."
)


def device_authorization_request(
    endpoint: str,
    *,
    client_id: str,
    scopes: Sequence[str],
    claims: str | None,
    headers: Mapping[str, str],
    extra: Mapping[str, object] | None = None,
) -> HttpRequest:
    """The POST to the device authorization endpoint (``scopes`` already decorated)."""
    fields = form_fields(
        extra, {"client_id": client_id, "scope": to_wire(scopes), "claims": claims}
    )
    return HttpRequest("POST", endpoint, data=fields, headers=dict(headers))


def interval_of(value: Any) -> int:
    """Seconds to wait between polls for a flow's ``interval``: never below the floor."""
    seconds = coerce_seconds(value)
    if seconds is None:
        seconds = DEFAULT_INTERVAL
    return max(MIN_INTERVAL, seconds)


def expires_at_of(flow: Mapping[str, Any]) -> float:
    """The flow's ``expires_at`` as a number; 0 (already expired) when unusable."""
    value = flow.get("expires_at")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0.0
    try:
        number = float(value)
    except ValueError:
        return 0.0
    return number if math.isfinite(number) else 0.0


def parse_device_authorization(
    response: HttpResponse, *, now: float, correlation_id: str
) -> dict[str, Any]:
    """The flow dict for a device authorization answer, or an error dict (no ``user_code``).

    Server fields are kept; ``verification_uri`` is filled from v1's ``verification_url``,
    ``expires_in`` and ``interval`` become ints (numeric strings accepted), a missing
    ``message`` is written in Entra's words, and ``expires_at`` plus ``_correlation_id``
    are added (MSAL's keys).
    """
    body = parse_json_object(response, "device authorization endpoint")
    if isinstance(body, str):
        return error_result(INVALID_RESPONSE, body, correlation_id=correlation_id)
    if "error" in body or not response.is_success:
        error = body.get("error")
        if not isinstance(error, str) or not error:
            return error_result(
                INVALID_RESPONSE,
                f"the device authorization endpoint answered HTTP {response.status_code} "
                "without an OAuth error",
                correlation_id=correlation_id,
            )
        result = {k: v for k, v in body.items() if k != "user_code"}
        if not isinstance(result.get("error_description"), str):
            result["error_description"] = f"{error} (HTTP {response.status_code})"
        result.setdefault("correlation_id", correlation_id)
        return result
    flow = dict(body)
    uri = flow.get("verification_uri") or flow.get("verification_url")
    required = {"user_code": flow.get("user_code"), "device_code": flow.get("device_code")}
    required["verification_uri"] = uri
    for name, value in required.items():
        if not isinstance(value, str) or not value:
            return error_result(
                INVALID_RESPONSE,
                f"Malformed device authorization response: no usable {name!r}",
                correlation_id=correlation_id,
            )
    flow["verification_uri"] = uri
    expires_in = coerce_seconds(flow.get("expires_in"))
    if expires_in is None:
        expires_in = DEFAULT_EXPIRES_IN
    flow["expires_in"] = min(max(expires_in, 0), MAX_EXPIRES_IN)
    interval = coerce_seconds(flow.get("interval"))
    flow["interval"] = DEFAULT_INTERVAL if interval is None else interval
    if not isinstance(flow.get("message"), str) or not flow["message"].strip():
        flow["message"] = MESSAGE_TEMPLATE.format(uri=uri, code=flow["user_code"])
    flow["expires_at"] = now + flow["expires_in"]
    flow[CORRELATION_ID] = correlation_id
    return flow


def poll_fields(
    *,
    client_id: str,
    device_code: str,
    client_auth: Mapping[str, str],
    claims: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Body fields of one poll; ``code`` duplicates ``device_code`` as MSAL sends it."""
    return form_fields(
        extra,
        {
            "grant_type": GRANT_TYPE,
            "client_id": client_id,
            "device_code": device_code,
            "code": device_code,
            "client_info": "1",
            "claims": claims,
        },
        client_auth,
    )
