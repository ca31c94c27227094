"""The process-wide cache of signing keys: max age, refetch on an unknown ``kid``, rate limit.

One entry per ``jwks_uri`` and trust key, shared by the validators of the process that
fetch keys the same way (the same ``http_client`` object or identitylib's own transport,
the same ``verify`` and ``proxies``: see ``identitylib/_authority/_trust.py``), so keys
fetched through a permissive or fake transport never serve a strict validator. At most
:data:`MAX_ENTRIES` entries are kept (those of gone ``http_client`` objects are dropped
first, then the oldest). An entry is fetched when first needed, again when older than its
max age, and once more when a token names a ``kid`` the cached set lacks (key rollover),
but at most once per refetch interval, so a flood of tokens with made-up ``kid`` values
makes at most one request per interval. One fetch is in flight per entry; threads that
waited for it use its outcome. After a failed fetch, further attempts wait
:data:`FAILURE_BACKOFF` seconds, and keys already cached (even past their max age) keep
being used.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Optional

from identitylib._authority import DEFAULT_TRUST, TrustKey
from identitylib._authority._trust import make_room
from identitylib._log import get_logger

from ._errors import TokenValidationError, invalid_token, unavailable
from ._keys import Jwk, KeySet

logger = get_logger(__name__)

#: Default seconds a fetched key set is used before it is fetched again (Entra: daily).
DEFAULT_MAX_AGE = 24 * 3600.0
#: Default minimum seconds between two refetches caused by unknown ``kid`` values.
DEFAULT_REFETCH_INTERVAL = 300.0
#: Seconds after a failed fetch during which no new attempt is made.
FAILURE_BACKOFF = 5.0
#: Longest wait, in seconds, for another thread's fetch of the same key set.
LOCK_TIMEOUT = 90.0
#: Most key sets kept (one per ``jwks_uri`` and trust key).
MAX_ENTRIES = 256


class _Entry:
    """The cached key set of one ``jwks_uri`` (for one trust key) and its fetch bookkeeping."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while fetching: one fetch in flight
        self.keys: Optional[KeySet] = None
        self.fetched_at = -math.inf  # last successful fetch (clock time)
        self.attempted_at = -math.inf  # last fetch attempt
        self.refetched_at = -math.inf  # last fetch caused by an unknown kid
        self.failure: Optional[TokenValidationError] = None  # of the last attempt
        self.generation = 0  # completed fetch attempts
        self.fetches = 0  # requests made, for diagnostics and tests


def _unknown_key(kid: Optional[str]) -> TokenValidationError:
    if kid is None:
        return invalid_token("The token has no key id (kid) and the issuer has several keys")
    return invalid_token("The token is signed with a key the issuer does not publish")


class JwksCache:
    """Key sets by trust key and ``jwks_uri``; thread-safe. ``clock`` is monotonic seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[TrustKey, str], _Entry] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _entry(self, trust: TrustKey, uri: str) -> _Entry:
        with self._lock:
            entry = self._entries.get((trust, uri))
            if entry is None:
                make_room(self._entries, MAX_ENTRIES)
                entry = self._entries[(trust, uri)] = _Entry()
            return entry

    def fetch_count(self, uri: str, trust: TrustKey = DEFAULT_TRUST) -> int:
        """How many times the key set of ``uri`` was requested for ``trust``."""
        with self._lock:
            entry = self._entries.get((trust, uri))
        return entry.fetches if entry else 0

    def clear(self) -> None:
        """Forget every key set (tests; or to force a refetch)."""
        with self._lock:
            self._entries.clear()

    def key(
        self,
        uri: str,
        kid: Optional[str],
        fetch: Callable[[], KeySet],
        *,
        trust: TrustKey,
        max_age: float = DEFAULT_MAX_AGE,
        refetch_interval: float = DEFAULT_REFETCH_INTERVAL,
    ) -> Jwk:
        """The key ``kid`` of ``uri``'s key set, fetching the set with ``fetch`` if needed.

        ``trust`` is the validator's trust key: only key sets fetched with an equal key are
        used. Raises :class:`TokenValidationError`: ``invalid_token`` for a key that is not
        published, or the fetch's own error (``temporarily_unavailable``).
        """
        entry = self._entry(trust, uri)
        generation = entry.generation
        found = self._fresh_key(entry, kid, max_age)
        if found is not None:
            return found
        if not entry.lock.acquire(timeout=LOCK_TIMEOUT):
            raise unavailable("Timed out waiting for the issuer's signing keys")
        try:
            return self._locked_key(entry, uri, kid, fetch, generation, max_age, refetch_interval)
        finally:
            entry.lock.release()

    def cached_key(
        self,
        uri: str,
        kid: Optional[str],
        *,
        trust: TrustKey,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> Optional[Jwk]:
        """The key ``kid`` if a fresh key set of ``uri`` holds it, else None: what
        :meth:`key` answers without fetching or waiting (an asyncio caller awaits
        :meth:`key` in a worker thread only when this is None)."""
        with self._lock:
            entry = self._entries.get((trust, uri))
        return None if entry is None else self._fresh_key(entry, kid, max_age)

    def _fresh_key(self, entry: _Entry, kid: Optional[str], max_age: float) -> Optional[Jwk]:
        keys = entry.keys
        if keys is None or self.clock() - entry.fetched_at >= max_age:
            return None
        return keys.find(kid)

    def _locked_key(
        self,
        entry: _Entry,
        uri: str,
        kid: Optional[str],
        fetch: Callable[[], KeySet],
        generation: int,
        max_age: float,
        refetch_interval: float,
    ) -> Jwk:
        now = self.clock()
        keys = entry.keys
        fresh = keys is not None and now - entry.fetched_at < max_age
        found = keys.find(kid) if keys is not None else None
        if found is not None and fresh:
            return found
        if entry.generation != generation:
            # Another thread fetched while this one waited: that was this token's fetch.
            if found is not None:
                return found  # stale keys kept after a failed refresh
            raise entry.failure.again() if entry.failure else _unknown_key(kid)
        if entry.failure is not None and now - entry.attempted_at < FAILURE_BACKOFF:
            if found is not None:
                return found
            raise entry.failure.again()
        if fresh:  # the kid is unknown: key rollover, or a forged kid
            if now - entry.refetched_at < refetch_interval:
                logger.debug("Unknown key id; %s was refetched recently, not again", uri)
                raise _unknown_key(kid)
            entry.refetched_at = now
        entry.attempted_at = now
        entry.fetches += 1
        try:
            new_keys = fetch()
        except TokenValidationError as failure:
            entry.failure = failure
            logger.warning("Could not fetch signing keys from %s: %s", uri, failure.description)
            if found is not None:
                return found
            raise
        finally:
            entry.generation += 1
        entry.keys, entry.fetched_at, entry.failure = new_keys, self.clock(), None
        logger.debug("Fetched %d signing keys from %s", len(new_keys.keys), uri)
        found = new_keys.find(kid)
        if found is None:
            raise _unknown_key(kid)
        return found


#: The key sets shared by every validator of the process.
JWKS_CACHE = JwksCache()
