"""Per-application totals kept without OpenTelemetry (as MSAL.NET's ``Metrics``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional

from ._names import SOURCE_CACHE


@dataclass(frozen=True)
class TokenTotals:
    """What an application object's acquisitions came to, since it was made.

    ``tokens_from_cache`` and ``tokens_from_identity_provider`` count the tokens returned
    (a managed identity's source counts as the identity provider), ``errors`` the calls
    that returned an error dict or raised. ``total_ms`` is the time spent in the public
    acquire calls, ``http_ms`` the part of it spent in HTTP requests.
    """

    tokens_from_cache: int = 0
    tokens_from_identity_provider: int = 0
    errors: int = 0
    total_ms: float = 0.0
    http_ms: float = 0.0

    @property
    def library_ms(self) -> float:
        """Time spent in the library itself: ``total_ms - http_ms``."""
        return max(0.0, self.total_ms - self.http_ms)

    @property
    def cache_hit_ratio(self) -> Optional[float]:
        """The share of tokens served from the cache (None before the first token)."""
        tokens = self.tokens_from_cache + self.tokens_from_identity_provider
        return self.tokens_from_cache / tokens if tokens else None


#: Indices of :attr:`Totals._counts`.
_CACHE, _PROVIDER, _ERROR, _NOTHING = range(4)


def _kind(result: Any, failed: bool) -> int:
    if failed:
        return _ERROR
    if isinstance(result, dict):
        if "access_token" in result:
            return _CACHE if result.get("token_source") == SOURCE_CACHE else _PROVIDER
        if "error" in result:
            return _ERROR
    return _NOTHING


class Totals:
    """The running totals of one application object; thread-safe."""

    __slots__ = ("_counts", "_lock", "_seconds")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0, 0, 0, 0]
        self._seconds = [0.0, 0.0]  # in all, in HTTP

    def add(self, result: Any, failed: bool, total_seconds: float, http_seconds: float) -> None:
        """Count one call by what it returned (``failed``: it raised)."""
        kind = _kind(result, failed)
        seconds = self._seconds
        with self._lock:
            self._counts[kind] += 1
            seconds[0] += total_seconds
            seconds[1] += http_seconds

    def snapshot(self) -> TokenTotals:
        """The totals so far."""
        with self._lock:
            counts, (total, http) = list(self._counts), self._seconds
            return TokenTotals(
                counts[_CACHE],
                counts[_PROVIDER],
                counts[_ERROR],
                round(total * 1000, 3),
                round(http * 1000, 3),
            )
