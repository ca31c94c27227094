"""Answering a repeated failing managed-identity call locally for a while (msal's MI rule).

After a call ends (IMDS's retries included) with HTTP 429, a 5xx, or any error answer
carrying ``Retry-After``, the same call (its source's first request: URL and parameters)
made again within ``Retry-After`` seconds (5 by default, at most an hour) gets the same
error result with no network traffic.

The records are kept by the transports' :class:`~identitylib._transport._throttle.Throttle`
(in the app's ``http_cache`` when it gives one, so they survive restarts as msal's do, else
in a bounded memory store), with :data:`MANAGED_IDENTITY_RULE`. The acquisition flow checks
and records a whole call, not each request (a replayed 429 must not feed IMDS's retries), so
the remembered "response" is the call's error result as JSON, with the last answer's status
and headers: :func:`outcome_response` and :func:`replayed_result`.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any, Callable, Optional

from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._transport._policy import header, parse_retry_after
from identitylib._transport._throttle import (
    DEFAULT_RETRY_AFTER,
    MAX_SECONDS,
    Throttle,
    ThrottleRule,
)

from ._response import Outcome


def throttle_seconds(request: HttpRequest, response: HttpResponse, now: float) -> float:
    """How long a call ending with ``response`` is answered locally (0: not at all)."""
    status = response.status_code
    retry_after = header(response.headers, "retry-after")
    if not (status == 429 or status >= 500 or retry_after is not None):
        return 0.0
    seconds = parse_retry_after(retry_after, now)
    return min(MAX_SECONDS, DEFAULT_RETRY_AFTER if seconds is None else seconds)


#: Every source's request may be throttled (Cloud Shell's is a POST, the others GETs).
MANAGED_IDENTITY_RULE = ThrottleRule(lambda request: True, throttle_seconds)


def managed_identity_throttle(
    http_cache: Optional[MutableMapping[Any, Any]], clock: Callable[[], float]
) -> Throttle:
    """The throttle of one managed-identity client."""
    return Throttle(http_cache, clock=clock, rule=MANAGED_IDENTITY_RULE)


def outcome_response(outcome: Outcome) -> Optional[HttpResponse]:
    """What the throttle remembers of a call's error outcome; None for a success, or when no
    answer was received (nothing to remember)."""
    if outcome.status is None or "error" not in outcome.result:
        return None
    return HttpResponse(outcome.status, json.dumps(outcome.result), dict(outcome.headers))


def replayed_result(response: HttpResponse) -> Optional[dict[str, Any]]:
    """The error result a remembered "response" stands for (None if it is not one)."""
    try:
        result = json.loads(response.text)
    except (ValueError, RecursionError):
        return None
    return result if isinstance(result, dict) and "error" in result else None
