"""Per-application totals kept without OpenTelemetry (as MSAL.NET's ``Metrics``).

Cheap to add to: each thread adds to a row of its own (no lock, no shared write), and a
reader merges the rows. A row of a thread that has ended is folded into the retired row
when the next thread registers, so the rows stay as many as the threads alive.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from identitylib._protocol._messages import HttpRequest, HttpResponse

from ._names import SOURCE_CACHE


@dataclass(frozen=True)
class TokenTotals:
    """What an application object's acquisitions came to, since it was made.

    ``tokens_from_cache`` and ``tokens_from_identity_provider`` count the tokens returned
    (a managed identity's source counts as the identity provider), ``errors`` the calls
    that returned an error dict or raised. ``total_ms`` is the time spent in the public
    acquire calls, ``http_ms`` the part of it spent in HTTP requests.

    ``background_refreshes`` counts the refreshes run in the background (a token in its
    refresh window served at once and renewed behind the scenes),
    ``background_refresh_errors`` those that got no new token, ``background_ms`` the time
    they took. They are not calls: the fields above do not include them.
    """

    tokens_from_cache: int = 0
    tokens_from_identity_provider: int = 0
    errors: int = 0
    total_ms: float = 0.0
    http_ms: float = 0.0
    background_refreshes: int = 0
    background_refresh_errors: int = 0
    background_ms: float = 0.0

    @property
    def library_ms(self) -> float:
        """Time spent in the library itself: ``total_ms - http_ms``."""
        return max(0.0, self.total_ms - self.http_ms)

    @property
    def cache_hit_ratio(self) -> Optional[float]:
        """The share of tokens served from the cache (None before the first token)."""
        tokens = self.tokens_from_cache + self.tokens_from_identity_provider
        return self.tokens_from_cache / tokens if tokens else None


#: Columns of a row: calls by kind, then background refreshes, then seconds.
_CACHE, _PROVIDER, _ERROR, _NOTHING, _REFRESHES, _REFRESH_ERRORS, _TOTAL, _HTTP, _BACKGROUND = (
    range(9)
)
_COLUMNS = 9


def _kind(result: Any, failed: bool) -> int:
    if failed:
        return _ERROR
    if isinstance(result, dict):
        if "access_token" in result:
            return _CACHE if result.get("token_source") == SOURCE_CACHE else _PROVIDER
        if "error" in result:
            return _ERROR
    return _NOTHING


_clock = time.perf_counter
#: Bits of the owner thread's packed hit count (see ``Totals.add_cached``).
_COUNT_BITS = 40
_COUNT_MASK = (1 << _COUNT_BITS) - 1


class _ThreadMark(threading.local):
    """``mark``: an object of the current thread's own, compared by identity (no number
    to fetch from memory, and never the mark of another thread, even one that ended)."""

    def __init__(self) -> None:
        self.mark = object()


#: ``THREAD.mark``: the current thread's mark.
THREAD = _ThreadMark()


def packed_hit(nanoseconds: int) -> int:
    """One cache hit that took ``nanoseconds``, as a number to add to a packed count
    (the time in nanoseconds above bit ``_COUNT_BITS``, the count below): what one thread
    keeps of its hits on an app (see ``_measured``), given to :meth:`Totals.snapshot`."""
    return (nanoseconds << _COUNT_BITS) + 1


class _HttpTiming(tuple):  # type: ignore[type-arg]
    """One HTTP attempt timed for the totals (a call's, without OpenTelemetry): the totals
    and the attempt's start, made as a tuple is (no ``__init__`` frame per attempt)."""

    __slots__ = ()

    def answered(self, response: HttpResponse) -> None:
        """The attempt is over."""
        self[0]._local.row[_HTTP] += _clock() - self[1]  # (add_http, in line)

    def failed(self, error: BaseException) -> None:
        """The attempt is over."""
        self[0].add_http(_clock() - self[1])


class _ThreadRow(threading.local):
    """``row``: the current thread's row of one :class:`Totals`, registered there the
    first time the thread reads it (``threading.local`` runs ``__init__`` once per thread):
    every later read is an attribute read, no call and no ``try``."""

    def __init__(self, register: Callable[[], list[float]]) -> None:
        self.row = register()


class Totals:
    """The running totals of one application object; thread-safe (module docstring).

    Also the observer of the HTTP requests of the app's calls when OpenTelemetry is off:
    an attempt's time is added when it ends, so a cache hit measures no HTTP at all.
    """

    __slots__ = ("_local", "_lock", "_retired", "_rows")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[tuple[threading.Thread, list[float]]] = []
        self._retired = [0.0] * _COLUMNS
        #: ``_local.row``: this thread's row (see :class:`_ThreadRow`).
        self._local = _ThreadRow(self._register)

    def _register(self) -> list[float]:
        """A new row for the current thread, registered (the rows of threads that ended
        folded into the retired row)."""
        row = [0.0] * _COLUMNS
        with self._lock:
            alive = []
            for thread, other in self._rows:
                if thread.is_alive():
                    alive.append((thread, other))
                else:  # nobody writes to it any more
                    self._retired = [a + b for a, b in zip(self._retired, other)]
            alive.append((threading.current_thread(), row))
            self._rows = alive
        return row

    def add(
        self, result: Any, failed: bool, total_seconds: float, http_seconds: float = 0.0
    ) -> None:
        """Count one call by what it returned (``failed``: it raised)."""
        row = self._local.row
        if failed:  # (_kind, in line)
            kind = _ERROR
        elif type(result) is dict and "access_token" in result:
            kind = _CACHE if result.get("token_source") == SOURCE_CACHE else _PROVIDER
        else:
            kind = _kind(result, failed)
        row[kind] += 1
        row[_TOTAL] += total_seconds
        if http_seconds:
            row[_HTTP] += http_seconds

    def add_cached(self, nanoseconds: int) -> None:
        """Count one call answered from the cache that took ``nanoseconds`` (``add`` of a
        cache-hit result, without looking at it)."""
        row = self._local.row
        row[_CACHE] += 1
        row[_TOTAL] += nanoseconds / 1e9

    def add_http(self, seconds: float) -> None:
        """Time a call spent in HTTP."""
        self._local.row[_HTTP] += seconds

    def add_background(self, got_token: bool, seconds: float) -> None:
        """One background refresh: whether it got a new token, how long it took."""
        row = self._local.row
        row[_REFRESHES] += 1
        if not got_token:
            row[_REFRESH_ERRORS] += 1
        row[_BACKGROUND] += seconds

    def attempt(self, request: HttpRequest, resend_count: int) -> _HttpTiming:
        """An attempt of a call's request starts (the HTTP observer's part)."""
        return _HttpTiming((self, _clock()))

    def replayed(self, request: HttpRequest, response: HttpResponse) -> None:
        """Nothing to count: no request was sent."""

    def snapshot(self, cached: int = 0) -> TokenTotals:
        """The totals so far, and the hits counted apart in ``cached`` (a sum of
        :func:`packed_hit` numbers)."""
        with self._lock:
            rows = [self._retired] + [row for _, row in self._rows]
        sums = [sum(column) for column in zip(*rows)]
        sums[_CACHE] += cached & _COUNT_MASK
        sums[_TOTAL] += (cached >> _COUNT_BITS) / 1e9
        return TokenTotals(
            int(sums[_CACHE]),
            int(sums[_PROVIDER]),
            int(sums[_ERROR]),
            round(sums[_TOTAL] * 1000, 3),
            round(sums[_HTTP] * 1000, 3),
            int(sums[_REFRESHES]),
            int(sums[_REFRESH_ERRORS]),
            round(sums[_BACKGROUND] * 1000, 3),
        )
