"""Per-application totals kept without OpenTelemetry (as MSAL.NET's ``Metrics``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

from ._names import SOURCE_CACHE, SOURCE_NONE


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


class Totals:
    """The running totals of one application object; thread-safe."""

    __slots__ = ("_cache", "_errors", "_http", "_lock", "_provider", "_total")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache = self._provider = self._errors = 0
        self._total = self._http = 0.0

    def add(self, source: str, failed: bool, total_seconds: float, http_seconds: float) -> None:
        """Count one call: the source of its token (``none`` without one)."""
        with self._lock:
            if failed:
                self._errors += 1
            elif source == SOURCE_CACHE:
                self._cache += 1
            elif source != SOURCE_NONE:
                self._provider += 1
            self._total += total_seconds
            self._http += http_seconds

    def snapshot(self) -> TokenTotals:
        """The totals so far."""
        with self._lock:
            return TokenTotals(
                self._cache,
                self._provider,
                self._errors,
                round(self._total * 1000, 3),
                round(self._http * 1000, 3),
            )
