"""What a source flow is given besides its source's configuration."""

from __future__ import annotations

import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from identitylib._transport._policy import ErrorKind, RetryPolicy
from identitylib._transport._sync import classify_requests_error

from ._identities import IdentitySpec

#: Answers of IMDS worth another attempt: Azure documents 404 and 410 (updating, "available
#: within 70 seconds"), 429 (throttled) and 5xx as transient.
IMDS_RETRY_STATUSES = frozenset({404, 410, 429, *range(500, 600)})

#: How IMDS requests are retried (the transports' :class:`RetryPolicy`, with IMDS's rules):
#: 5 attempts in all, waits of 0.5 s doubling up to 4 s (times a random factor in
#: [1, 1.2]), a longer ``Retry-After`` honoured, and no wait that would end more than 10 s
#: after the first attempt began (requests included). So a 410 is retried for about ten
#: seconds, not seventy: a caller that prefers to wait longer raises ``budget``.
IMDS_RETRY = RetryPolicy(
    retries=4,
    backoff=0.5,
    jitter=0.2,
    max_backoff=4.0,
    budget=10.0,
    retry_statuses=IMDS_RETRY_STATUSES,
)


def classify_error(exc: BaseException) -> ErrorKind:
    """What kind of failure a transport raised, whichever HTTP library raised it."""
    kind = classify_requests_error(exc)
    httpx = sys.modules.get("httpx")  # the asyncio client's library, loaded if it is in use
    if kind == "other" and httpx is not None and isinstance(exc, httpx.HTTPError):
        from identitylib._transport._async import classify_httpx_error

        kind = classify_httpx_error(exc)
    return kind


@dataclass
class ImdsState:
    """Whether IMDS has ever answered this client (before that, a connection failure is
    taken to mean "not on Azure" and is not retried, so off-Azure calls fail fast)."""

    answered: bool = False


@dataclass(frozen=True)
class FlowContext:
    """One token request: the identity, the resource and the request's options.

    The callables are seams: ``now`` (wall clock, for expiry), ``monotonic`` (for retry
    budgets), ``uniform`` (jitter), ``new_id`` (request ids), ``classify`` (sorts a
    transport's exception for the retry policy), ``read_key_file`` (reads the Arc key file
    at a path inside a directory, see ``_arc.read_key_file``) and ``platform``
    (``sys.platform``).
    """

    identity: IdentitySpec
    resource: str
    claims_challenge: Optional[str] = None
    token_sha256_to_refresh: Optional[str] = None
    client_capabilities: tuple[str, ...] = ()
    imds_retry: RetryPolicy = IMDS_RETRY
    imds_state: ImdsState = field(default_factory=ImdsState)
    now: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    uniform: Callable[[float, float], float] = random.uniform
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    classify: Callable[[BaseException], ErrorKind] = classify_error
    read_key_file: Optional[Callable[[str, str], bytes]] = None
    platform: str = sys.platform
