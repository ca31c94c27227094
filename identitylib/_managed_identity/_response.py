"""One shape for every source's answer (wire formats §11.8), and the error dicts.

A success becomes ``{"access_token", "expires_in" (int), "token_type", "resource"}``
plus ``refresh_in`` when the source sent a usable one. Sources disagree on types and
fields: IMDS and Arc send numbers as strings, App Service an epoch ``expires_on`` string,
its 2017 protocol a date text, Service Fabric and Azure ML an int or a string. Whatever
arrives, the result is a dict; nothing here raises.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from identitylib._protocol._errors import INVALID_RESPONSE, error_result
from identitylib._protocol._messages import HttpResponse
from identitylib._protocol._token_response import (
    MAX_BODY,
    MAX_LIFETIME,
    coerce_seconds,
    token_type_problem,
)

#: Longest server text copied into an ``error_description``.
MAX_DESCRIPTION = 2000

_DATE_FORMATS = (
    "%m/%d/%Y %H:%M:%S %z",
    "%m/%d/%Y %I:%M:%S %p %z",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
)


@dataclass(frozen=True)
class Outcome:
    """What a source flow ends with: the result dict and the last HTTP answer's status
    and headers (None when no answer was received), which throttling looks at."""

    result: dict[str, Any]
    status: Optional[int] = None
    headers: Mapping[str, str] = field(default_factory=dict)


def clip(text: str) -> str:
    """Server text short enough for an error description."""
    return text if len(text) <= MAX_DESCRIPTION else text[:MAX_DESCRIPTION] + "..."


def json_body(response: HttpResponse) -> Any:
    """The decoded JSON body, or None when it is not JSON (or too large)."""
    if len(response.text) > MAX_BODY:
        return None
    try:
        return json.loads(response.text)
    except (ValueError, RecursionError):
        return None


def parse_expires_on(value: Any) -> Optional[float]:
    """Epoch seconds from an int, float, numeric string or date text; None otherwise.

    Date texts: ``MM/DD/YYYY HH:MM:SS +00:00`` (App Service 2017-09-01, with or without
    AM/PM), ISO 8601 and RFC 1123; without a zone they are taken as UTC.
    """
    seconds = coerce_seconds(value)
    if seconds is not None:
        return float(seconds)
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return None
    text = value.strip()
    moment: Optional[datetime.datetime] = None
    for pattern in _DATE_FORMATS:
        try:
            moment = datetime.datetime.strptime(text, pattern)
            break
        except ValueError:
            continue
    if moment is None:
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    stamp = moment.timestamp()
    return stamp if math.isfinite(stamp) else None


def normalise_token(body: Any, *, now: float, resource: str) -> dict[str, Any] | str:
    """The normalised success result, or a description of what is wrong with ``body``."""
    if not isinstance(body, Mapping):
        return "the answer is not a JSON object"
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        return "the answer has no 'access_token' string"
    token_type = body.get("token_type", "Bearer")
    if token_type is None or token_type == "":
        token_type = "Bearer"
    if not isinstance(token_type, str):
        return f"'token_type' is a {type(token_type).__name__}, not a string"
    problem = token_type_problem(token_type)  # every source answers Bearer
    if problem is not None:
        return problem
    expires_in = coerce_seconds(body.get("expires_in"))
    if expires_in is None:
        if "expires_in" in body and "expires_on" not in body:
            return f"'expires_in' is not a number of seconds: {body.get('expires_in')!r}"
        expires_on = parse_expires_on(body.get("expires_on"))
        if expires_on is None:
            if "expires_on" in body:
                return f"'expires_on' is neither epoch seconds nor a date: {body['expires_on']!r}"
            return "the answer has neither 'expires_in' nor 'expires_on'"
        # Whole seconds of each, as msal counts: a fraction of the current second never
        # takes one off (int(4600 - 1000.5) would say 3599 where 3600 are left).
        expires_in = int(expires_on) - int(now)
    if expires_in <= 0:
        return f"the token has already expired (expires_in {expires_in})"
    expires_in = min(expires_in, MAX_LIFETIME)
    answered = body.get("resource")
    result: dict[str, Any] = {
        "access_token": access_token,
        "expires_in": expires_in,
        "resource": answered if isinstance(answered, str) and answered else resource,
        "token_type": token_type,
    }
    refresh_in = coerce_seconds(body.get("refresh_in"))
    if refresh_in is not None and 0 < refresh_in < expires_in:
        result["refresh_in"] = refresh_in
    return result


def malformed(response: HttpResponse, source: str, problem: str) -> dict[str, Any]:
    """The error result for an answer that cannot be understood."""
    return error_result(
        INVALID_RESPONSE,
        f"{source} answered HTTP {response.status_code} with a malformed token response: {problem}",
    )


def not_json(response: HttpResponse, source: str) -> dict[str, Any]:
    """The error result for a body that is not a JSON object."""
    content_type = response.headers.get("content-type", "unknown content type")
    return error_result(
        INVALID_RESPONSE,
        f"{source} answered HTTP {response.status_code} with a body that is not a JSON object "
        f"({content_type})",
    )


def oauth_error(body: Mapping[str, Any], status: int) -> dict[str, Any] | None:
    """``body`` as an error result if it is an OAuth error body (string ``error``)."""
    error = body.get("error")
    if not isinstance(error, str) or not error:
        return None
    result = dict(body)
    description = result.get("error_description")
    if not isinstance(description, str):
        result["error_description"] = f"{error} (HTTP {status})"
    return result
