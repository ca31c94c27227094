"""When to retry an HTTP request, and how long to wait first: a sans-I/O policy.

:class:`RetryPolicy` is an immutable value, like urllib3's ``Retry``, that never sleeps and
never sends anything. A transport (the blocking one in ``_sync.py``, the asyncio one) asks
it after every attempt and does what it says::

    policy = DEFAULT_RETRY_POLICY
    attempt = 1
    while True:
        try:
            response = send(request)
        except Exception as exc:
            decision = policy.after_error(request.method, classify(exc), attempt)
            if not decision.retry:
                raise
        else:
            decision = policy.after_response(
                request.method, response.status_code, response.headers, attempt
            )
            if not decision.retry:
                return response
        sleep(decision.wait)            # time.sleep or asyncio.sleep
        attempt += 1

API:

* ``RetryPolicy(retries=1, backoff=0.5, jitter=0.5, max_retry_after=30.0,
  retry_methods=frozenset({"GET", "POST"}), retry_statuses=429 and 5xx, max_backoff=inf,
  budget=inf)``
* ``after_response(method, status, headers, attempt, *, one_time=False, time_left=inf,
  now=None, uniform=random.uniform, elapsed=0.0)`` → :class:`Decision` for an HTTP answer.
  ``headers`` is any mapping (names compared case-insensitively); ``attempt`` is 1 for the
  first try; ``one_time`` says the request carries a credential that may be used once (an
  authorization code, a refresh token: :attr:`HttpRequest.one_time`); ``time_left`` is what
  is left of the request's deadline; ``now`` (epoch seconds) is used for a ``Retry-After``
  given as an HTTP date.
* ``after_error(method, kind, attempt, *, one_time=False, time_left=inf, uniform=...,
  elapsed=0.0)`` →
  :class:`Decision` for an exception, which the transport first sorts into an
  :class:`ErrorKind`: ``"connect"`` (the request never left: nothing listens, the
  connection or a proxy could not be set up, connect timeout), ``"dropped"`` (the
  connection broke after the request may have been sent), ``"read"`` (the server took the
  request and then stalled past the read timeout) or ``"other"`` (TLS failures, bugs).
* :class:`Decision` has ``retry`` (bool), ``wait`` (seconds to sleep before the retry) and
  ``reason`` (for logs).
* :func:`parse_retry_after` turns a ``Retry-After`` header (delta seconds or an HTTP date)
  into seconds.

Rules of :data:`DEFAULT_RETRY_POLICY` (the line urllib3's ``Retry`` draws between what
may and may not be sent twice):

* At most ``retries`` (1) retry per request, so at most two attempts.
* A request that **never left** (``"connect"``) is retried, for GET and POST alike.
* A server that says it did not act, ``429`` or ``503`` **with** ``Retry-After``, is
  retried for every request.
* After a **dropped connection** or **another 5xx** (or a 429 without ``Retry-After``) the
  server may have used what it was sent: only requests without a one-time credential are
  retried (client credentials, on-behalf-of, device-code polls, discovery, managed
  identity). A refresh token or an authorization code is never sent twice: a provider that
  detects refresh-token reuse (Okta, Auth0, Keycloak, oidc-provider) would revoke the
  user's whole token family, and a re-sent code turns the real error into
  ``invalid_grant``.
* Read timeouts and TLS failures are not retried: a server that stalled once would double
  the time the app waits, and a TLS failure would fail again.
* The wait is ``backoff`` seconds times a random factor in ``[1, 1 + jitter]``, so that
  many clients failing together do not come back together. A ``Retry-After`` header longer
  than that replaces it, up to ``max_retry_after`` seconds; when the server asks for more
  than ``max_retry_after``, or for more than the request's deadline leaves, the answer is
  returned at once, without waiting and without a retry (an app should not hang for
  minutes inside a token call).
* Other statuses (2xx, 3xx, 4xx other than 429) are final.

A caller with other rules builds another value: ``retry_statuses`` names the answers worth
another attempt (IMDS adds 404 and 410), ``max_backoff`` caps the exponential back-off, and
``budget`` bounds the time from the first attempt to the end of the last wait: a caller
that retries by itself passes the seconds ``elapsed`` since its first attempt, and a wait
that would end past the budget (less :data:`MIN_ATTEMPT_TIME`) is not made. The
managed-identity client's IMDS policy is one such value
(``identitylib/_managed_identity/_context.py``).
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Literal, Optional, Protocol

from identitylib._protocol._messages import HttpRequest, HttpResponse

#: What went wrong when an attempt raised instead of answering.
ErrorKind = Literal["connect", "dropped", "read", "other"]

Uniform = Callable[[float, float], float]


@dataclass(frozen=True)
class Decision:
    """The policy's answer: retry (after ``wait`` seconds) or stop."""

    retry: bool
    wait: float = 0.0
    reason: str = ""


STOP = Decision(False)

#: Seconds an attempt needs at the least: a retry that would leave less is not made.
MIN_ATTEMPT_TIME = 0.5

#: The answers retried by default: the server is throttling or failing (429, 5xx).
DEFAULT_RETRY_STATUSES = frozenset({429, *range(500, 600)})


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds from a ``Retry-After`` value (delta seconds or an HTTP date); None if unusable.

    Negative and past values become 0. ``now`` (epoch seconds) is needed for dates only;
    without it the current time is used.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, number) if math.isfinite(number) else None
    import email.utils  # HTTP dates are rare (most servers send seconds): loaded on use

    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:  # some Python versions return None instead of raising
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    return max(0.0, moment.timestamp() - now)


def header(headers: Mapping[str, str] | None, name: str) -> Optional[str]:
    """A header's value from any mapping, matching the name case-insensitively."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return str(value)
    lowered = name.lower()
    for key, item in headers.items():
        if str(key).lower() == lowered:
            return str(item)
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """An immutable retry policy; see the module docstring for the rules."""

    retries: int = 1
    backoff: float = 0.5
    jitter: float = 0.5
    max_retry_after: float = 30.0
    retry_methods: frozenset[str] = field(default_factory=lambda: frozenset({"GET", "POST"}))
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    max_backoff: float = math.inf
    budget: float = math.inf

    def _backoff(self, attempt: int, uniform: Uniform) -> float:
        wait = min(self.max_backoff, self.backoff * (2.0 ** max(0, attempt - 1)))
        if self.jitter > 0:
            wait *= uniform(1.0, 1.0 + self.jitter)
        return max(0.0, wait)

    def _may_retry(self, method: str, attempt: int) -> bool:
        return attempt <= self.retries and method.upper() in self.retry_methods

    def after_response(
        self,
        method: str,
        status: int,
        headers: Mapping[str, str] | None,
        attempt: int,
        *,
        one_time: bool = False,
        time_left: float = math.inf,
        now: Optional[float] = None,
        uniform: Uniform = random.uniform,
        elapsed: float = 0.0,
    ) -> Decision:
        """Whether to retry after an HTTP answer with ``status`` on attempt ``attempt``."""
        if status not in self.retry_statuses:
            return STOP
        if not self._may_retry(method, attempt):
            return Decision(False, reason=f"HTTP {status}, no retries left")
        retry_after = parse_retry_after(header(headers, "retry-after"), now)
        not_acted_on = status in (429, 503) and retry_after is not None
        if one_time and not not_acted_on:
            return Decision(
                False, reason=f"HTTP {status}: a one-time credential is never sent twice"
            )
        wait = self._backoff(attempt, uniform)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return Decision(
                    False,
                    reason=f"HTTP {status} asks to retry after {retry_after:.0f} s, "
                    f"more than the {self.max_retry_after:.0f} s cap",
                )
            wait = max(wait, retry_after)
        return self._within(self._left(time_left, elapsed), Decision(True, wait, f"HTTP {status}"))

    def after_error(
        self,
        method: str,
        kind: ErrorKind,
        attempt: int,
        *,
        one_time: bool = False,
        time_left: float = math.inf,
        uniform: Uniform = random.uniform,
        elapsed: float = 0.0,
    ) -> Decision:
        """Whether to retry after an attempt raised an error of ``kind``."""
        if not self._may_retry(method, attempt):
            return STOP
        if kind == "connect":
            decision = Decision(True, self._backoff(attempt, uniform), "connection error")
        elif kind == "dropped" and not one_time:
            decision = Decision(True, self._backoff(attempt, uniform), "connection dropped")
        else:
            return STOP
        return self._within(self._left(time_left, elapsed), decision)

    def _left(self, time_left: float, elapsed: float) -> float:
        # What the request's deadline and this policy's budget leave, whichever is less.
        return min(time_left, self.budget - elapsed)

    @staticmethod
    def _within(time_left: float, decision: Decision) -> Decision:
        # A retry is worth making only if some time is left once the wait is over.
        if decision.wait + MIN_ATTEMPT_TIME > time_left:
            return Decision(
                False,
                reason=f"{decision.reason}; the request's deadline leaves no time to retry",
            )
        return decision


#: The policy identitylib's transports use unless told otherwise.
DEFAULT_RETRY_POLICY = RetryPolicy()

#: A policy that never retries (for tests and for callers that retry themselves).
NO_RETRY = RetryPolicy(retries=0)


class _TimeLeft(Protocol):
    def left(self) -> float: ...


def answer_decision(
    policy: RetryPolicy,
    request: HttpRequest,
    response: HttpResponse,
    attempt: int,
    deadline: _TimeLeft,
) -> Decision:
    """``policy.after_response`` for ``response`` to ``request``, for both transports: a
    status this module's policy never retries (every success) is decided without the
    call or the deadline's clock; a subclass's rule is always asked."""
    if response.status_code not in policy.retry_statuses and type(policy) is RetryPolicy:
        return STOP  # (what after_response answers first)
    return policy.after_response(
        request.method,
        response.status_code,
        response.headers,
        attempt,
        one_time=request.one_time,
        time_left=deadline.left(),
    )
