"""Why the current call goes to the token endpoint (a context variable the flows set)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

#: Why the current call goes to the token endpoint (MSAL.NET's CacheRefreshReason, in
#: snake case): set by the flows, read by the app's ``timing`` report.
REFRESH_REASON: ContextVar[str | None] = ContextVar("identitylib_refresh_reason", default=None)


def note_refresh_reason(cached: Any, forced: Any) -> None:
    """Record why a token is requested: a cached token in its refresh window, a
    force_refresh or claims challenge that skipped the cache, or no usable cached token."""
    if cached is not None:
        reason = "proactive_refresh"
    elif forced:
        reason = "force_refresh_or_claims"
    else:
        reason = "no_cached_access_token"
    REFRESH_REASON.set(reason)
