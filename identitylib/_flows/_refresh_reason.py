"""Why the current call goes to the token endpoint: a slot in a context variable that the
flows write and the app's ``timing`` report and telemetry read."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any


class RefreshReason:
    """Why the current call goes to the token endpoint (MSAL.NET's CacheRefreshReason, in
    snake case; None: it did not). A mutable slot, so that flows running in a copy of the
    call's context (an asyncio task, a worker thread) still write to the caller's."""

    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: str | None = None


#: The slot of the current call: installed by the app's ``timing`` report and by
#: telemetry (``identitylib/_telemetry``), written by the flows.
REFRESH_REASON: ContextVar[RefreshReason | None] = ContextVar(
    "identitylib_refresh_reason", default=None
)


#: The cache held a token for the call, expired (or about to: see ``_lookups.EXPIRY_SKEW``).
EXPIRED = "expired"


def note_expired() -> None:
    """A lookup found only expired tokens (``_lookups.first_usable``): if the call goes on
    to the token endpoint without another reason, that is why."""
    slot = REFRESH_REASON.get()
    if slot is not None:
        slot.reason = EXPIRED


def note_refresh_reason(cached: Any, forced: Any) -> None:
    """Record why a token is requested: a cached token in its refresh window, a
    force_refresh or claims challenge that skipped the cache, an expired cached token
    (noted by the lookup), or none at all."""
    slot = REFRESH_REASON.get()
    if slot is None:
        return
    if cached is not None:
        slot.reason = "proactive_refresh"
    elif forced:
        slot.reason = "force_refresh_or_claims"
    elif slot.reason != EXPIRED:
        slot.reason = "no_cached_access_token"
