"""Retry policy for the VM's IMDS: exponential back-off with jitter, bounded in time.

Azure documents IMDS as transiently failing with 404 (updating), 410 (updating, "available
within 70 seconds"), 429 (throttled) and 5xx, and recommends exponential back-off. The
policy here retries those answers at most ``max_attempts`` times in all and never plans a
wait that would end after ``budget`` seconds from the first attempt (requests included).
So a 410 is retried for about ten seconds by default, not seventy: a caller that prefers
to wait longer raises ``budget``. A ``Retry-After`` longer than the time left ends the
retries at once, returning the last answer (waiting would overrun the budget anyway).
"""

from __future__ import annotations

import datetime
import email.utils
import random
from dataclasses import dataclass
from typing import Callable, Optional

from identitylib._protocol._token_response import coerce_seconds

#: Answers of IMDS that are worth another attempt (5xx are added by the policy).
RETRYABLE_STATUSES = frozenset({404, 410, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """How IMDS requests are retried.

    ``max_attempts`` attempts in all; the n-th wait is ``base_delay * 2**(n-1)`` capped at
    ``max_delay`` and multiplied by a random factor in ``[1 - jitter, 1 + jitter]``; a
    ``Retry-After`` longer than that wait replaces it; no wait may end later than
    ``budget`` seconds after the first attempt began.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 4.0
    jitter: float = 0.2
    budget: float = 10.0

    def is_retryable(self, status: int) -> bool:
        """Whether an answer with this status may be retried."""
        return status in RETRYABLE_STATUSES or 500 <= status <= 599

    def delay(
        self,
        attempt: int,
        retry_after: Optional[float] = None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * (2.0 ** max(0, attempt - 1)))
        if self.jitter > 0:
            backoff *= uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None and retry_after > backoff:
            return retry_after
        return max(0.0, backoff)


#: The policy ``ManagedIdentityClient`` uses unless told otherwise.
DEFAULT_IMDS_RETRY = RetryPolicy()


def parse_retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), else None."""
    if value is None:
        return None
    seconds = coerce_seconds(value)
    if seconds is not None:
        return float(max(0, seconds))
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, moment.timestamp() - now)
