"""``PersistedTokenCache``: a token cache kept in a file (or an OS secret store) that
several processes share without losing each other's tokens."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from identitylib._cache import CacheAccess, SerializableTokenCache
from identitylib._log import get_logger
from identitylib.exceptions import TokenCacheError

from ._atomic import ensure_directory
from ._backend import (
    Backend,
    Content,
    Digest,
    PersistenceLike,
    Snapshot,
    Stamp,
    make_backend,
    now_ns,
    text_digest_of,
)
from ._journal import Journal
from ._lock import CacheFileLock

logger = get_logger(__name__)

#: How long a write waits for the cross-process lock before giving up (for now).
DEFAULT_LOCK_TIMEOUT = 10.0
#: After a timeout, later attempts wait at most this long until one succeeds, so that a
#: process stuck while holding the lock does not slow every token call by the timeout.
DEGRADED_LOCK_WAIT = 0.5

Entry = dict[str, Any]


@dataclass(frozen=True)
class _Sync:
    """What the store held when this cache last read or wrote it."""

    stamp: Optional[Stamp]
    digest: Optional[Digest]  # of the raw stored content; None: nothing stored
    text_digest: Optional[Digest]  # of the serialized text; None: unknown
    trusted: bool  # an unchanged stamp proves unchanged content


class PersistedTokenCache(SerializableTokenCache):
    """A ``SerializableTokenCache`` backed by a persistence shared between processes.

    ``persistence`` is an msal-extensions persistence (``FilePersistence``,
    ``FilePersistenceWithDataProtection``, ``KeychainPersistence``,
    ``LibsecretPersistence``), any object with ``save(str)``, ``load() -> str``,
    ``time_last_modified()`` and ``get_location()``, or a plain file path. The
    cross-process lock is ``lock_location``, by default ``<location>.lockfile`` (the
    file msal-extensions, Azure CLI and azure-identity lock).

    * Lookups first reload the store when another process changed it (a ``stat``
      tells; the content is read only then).
    * Every change (``add``, removals, refresh-token updates, purges of expired tokens)
      is written before the call returns, in one write per ``add`` or per access:
      under the lock, the store is re-read if it changed, this cache's own pending
      changes (its journal) are replayed on top, and the result replaces the file
      atomically. Concurrent writers all keep their tokens.
    * A corrupt store is moved aside to ``<location>.corrupt-<time>`` with a warning;
      the cache carries on with what it holds in memory (nothing, for a new process).
    * When the lock cannot be had within ``lock_timeout`` seconds, or the store cannot
      be read or written, the cache logs a warning and serves from memory; its pending
      changes are kept and written by the next successful write (or ``flush()``). Until
      the lock is had again, attempts wait at most ``DEGRADED_LOCK_WAIT`` seconds.

    * A file written here is 0600, also after rewrites. Missing directories of the
      location (for a path) and of the lock are created 0700; existing ones keep their
      mode (``build_persistence`` creates its location's directories 0700 too).

    ``serialize()`` and ``deserialize()`` act on memory only, as in msal-extensions.
    """

    def __init__(
        self,
        persistence: PersistenceLike,
        lock_location: Optional[Union[str, os.PathLike[str]]] = None,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        super().__init__()
        self._backend: Backend = make_backend(persistence)
        self._persistence = persistence
        self.is_encrypted: bool = self._backend.is_encrypted
        self._lock_location = (
            os.path.expanduser(os.fspath(lock_location))
            if lock_location
            else self._backend.location + ".lockfile"
        )
        ensure_directory(self._lock_location)
        self._file_lock = CacheFileLock(self._lock_location)
        self._lock_timeout = float(lock_timeout)
        self._journal = Journal()
        self._depth = 0  # > 0 inside an access block, add() or a search step
        self._stored: Optional[_Sync] = None  # None: never read
        self._warned: set[str] = set()

    @property
    def location(self) -> str:
        """Where the tokens are stored (the file, or the signal file of a secret store)."""
        return self._backend.location

    @property
    def lock_location(self) -> str:
        """The lock file shared with msal-extensions and other processes."""
        return self._lock_location

    @property
    def pending_changes(self) -> int:
        """How many keys changed here and are not yet in the store."""
        with self._lock:
            return len(self._journal)

    # ------------------------------------------------------------ public extras

    def flush(self) -> bool:
        """Write this cache's pending changes now.

        Returns True when the store holds all of them (also when there were none),
        False when the lock or the store was unavailable; the changes then stay pending.
        """
        with self._lock:
            if not self._journal:
                return True
            return self._locked(self._write_locked)

    def reload(self) -> None:
        """Read the store now if another process changed it (lookups do this anyway)."""
        with self._lock:
            self._reload_quietly()

    # ---------------------------------------------------------------- lookups

    def search(
        self,
        credential_type: str,
        target: Optional[Iterable[str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        *,
        now: Optional[float] = None,
    ) -> Iterator[Entry]:
        """As ``TokenCache.search``, after reloading the store if another process
        changed it. Expired tokens purged on the way are written as one change."""
        with self._lock:
            if self._depth == 0:
                self._reload_quietly()
        found = super().search(credential_type, target=target, query=query, now=now)
        while True:
            with self._batch():
                try:
                    entry = next(found)
                except StopIteration:
                    return
            yield entry

    def on_before_access(self, access: CacheAccess) -> None:
        """Reload if the store changed; changes made until ``on_after_access`` are
        written once, at its end."""
        super().on_before_access(access)
        self._open_access()  # The cache lock is held until on_after_access.

    def on_after_access(self, access: CacheAccess) -> None:
        try:
            super().on_after_access(access)
        finally:
            self._close_access()

    # ----------------------------------------------------------------- writes

    def add(self, event: Mapping[str, Any], now: Optional[float] = None) -> None:
        """As ``TokenCache.add``; the tokens are in the store when it returns."""
        with self._batch():
            super().add(event, now=now)

    def modify(
        self,
        credential_type: str,
        old_entry: Mapping[str, Any],
        new_key_value_pairs: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """As ``TokenCache.modify``; the change is recorded in the journal and written."""
        key = self.key_makers[credential_type](**old_entry)
        with self._batch():
            base = self._entry(credential_type, key)
            super().modify(credential_type, old_entry, new_key_value_pairs)
            stored = self._entry(credential_type, key) if new_key_value_pairs else None
            self._journal.record(credential_type, key, stored, base)

    def _discard(self, credential_type: str, key: str) -> None:
        with self._batch():
            base = self._entry(credential_type, key)
            super()._discard(credential_type, key)
            self._journal.record(credential_type, key, None, base)

    def _entry(self, credential_type: str, key: str) -> Optional[Entry]:
        section = self._cache.get(credential_type)
        entry = section.get(key) if isinstance(section, dict) else None
        return entry if isinstance(entry, dict) else None

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Group changes: the outermost batch writes them once, when it ends."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._close_access()

    # An access (or batch) is open while ``_depth`` > 0: lookups do not reload, changes
    # are only journaled, and the outermost one writes them when it ends. ``_depth`` only
    # changes with the cache lock held.

    def _open_access(self) -> None:
        """Start an access: reload first if none is open and the store changed."""
        with self._lock:
            if self._depth == 0:
                self._reload_quietly()
            self._depth += 1

    def _close_access(self) -> None:
        """End an access (or batch): the outermost one writes the pending changes."""
        with self._lock:
            self._depth -= 1
            self._write_if_idle()

    def _write_if_idle(self) -> None:
        """Write the pending changes, unless an access or batch is open."""
        with self._lock:
            if self._depth == 0 and self._journal:
                self.flush()

    # -------------------------------------------------------------- machinery
    # Everything below runs with the cache lock (self._lock) held.

    def _locked(self, action: Callable[[], bool]) -> bool:
        """Run ``action`` holding the cross-process lock; False if it was not had."""
        timeout = self._lock_timeout
        if "lock" in self._warned:  # The last attempt timed out.
            timeout = min(timeout, DEGRADED_LOCK_WAIT)
        if not self._file_lock.acquire(timeout):
            self._warn(
                "lock",
                "Could not lock the token cache %s within %.1f s; serving tokens from "
                "memory, %d pending change(s) will be written later",
                self._lock_location,
                self._lock_timeout,
                len(self._journal),
            )
            return False
        self._ok("lock")
        try:
            return action()
        finally:
            self._file_lock.release()

    def _write_locked(self) -> bool:
        """Read-merge-write (cross-process lock held)."""
        try:
            self._backend.sweep()
            self._reload(locked=True)
            text = self.serialize()
            text_digest = Digest(text)
            text_digest.value()  # (now: the serialized text is not held after the write)
            synced = self._stored
            if synced is None or synced.text_digest != text_digest:
                stamp, digest = self._backend.write(text)
                self._stored = _Sync(stamp, digest, text_digest, trusted=False)
        except Exception as error:  # Any store's failure: keep the changes for later.
            self._warn(
                "write",
                "Could not write the token cache %s (%s); serving tokens from memory, "
                "%d pending change(s) will be written later",
                self._backend.location,
                _describe(error),
                len(self._journal),
            )
            return False
        self._ok("write")
        self._journal.clear()
        self.has_state_changed = False
        return True

    def _reload_quietly(self) -> None:
        try:
            self._reload(locked=False)
        except Exception as error:  # Any store's failure: serve what memory holds.
            self._warn(
                "read",
                "Could not read the token cache %s (%s); serving tokens from memory",
                self._backend.location,
                _describe(error),
            )
        else:
            self._ok("read")

    def _reload(self, *, locked: bool) -> None:
        """Bring memory up to date with the store (plus the journal) if it changed.

        Without the lock, content that does not parse may be an in-place write by
        another program (msal-extensions writes in place) still in progress: it is
        read again under the lock before being declared corrupt.
        """
        synced = self._stored
        stamp = self._backend.stamp()
        if synced is not None and stamp == synced.stamp and (synced.trusted or stamp is None):
            return
        started = now_ns()
        snapshot = self._backend.read()
        if snapshot.missing:
            if synced is not None and synced.digest is not None:
                self._apply("")  # Deleted by someone: empty, plus our own changes.
            self._stored = _Sync(None, None, None, trusted=True)
            return
        if synced is not None and snapshot.digest is not None and snapshot.digest == synced.digest:
            self._stored = _Sync(
                snapshot.stamp, synced.digest, synced.text_digest, _trusted(snapshot, started)
            )
            return
        problem = snapshot.problem
        if snapshot.text is not None and (locked or not _blank(snapshot.text)):
            try:
                self._apply(snapshot.text)
            except TokenCacheError as error:
                problem = str(error)
            else:
                self._stored = _Sync(
                    snapshot.stamp,
                    snapshot.digest,
                    text_digest_of(snapshot),
                    _trusted(snapshot, started),
                )
                return
        if not locked:
            self._locked(self._reload_locked)  # Not had: memory is served meanwhile.
            return
        self._set_aside(snapshot, problem or "empty")

    def _reload_locked(self) -> bool:
        self._reload(locked=True)
        return True

    def _apply(self, text: Content) -> None:
        """Memory := the stored ``text`` with the journal replayed on top."""
        SerializableTokenCache.deserialize(self, text)  # TokenCacheError: memory kept
        kept = self._journal.replay(self._store)
        if kept:
            logger.debug("%d change(s) skipped: another process wrote newer entries", kept)
        self.has_state_changed = bool(self._journal)

    def _set_aside(self, snapshot: Snapshot, problem: str) -> None:
        """Deal with unreadable stored content (cross-process lock held)."""
        if self._backend.is_file:
            suffix = time.strftime(".corrupt-%Y%m%dT%H%M%SZ", time.gmtime())
            try:
                aside = self._backend.set_aside(suffix)
            except FileNotFoundError:
                aside = None
            except OSError as error:
                self._warn(
                    "corrupt",
                    "The token cache file %s is unreadable (%s) and could not be moved "
                    "aside (%s); serving tokens from memory until it is rewritten",
                    self._backend.location,
                    problem,
                    _describe(error),
                )
                self._stored = _Sync(snapshot.stamp, snapshot.digest, None, trusted=True)
                return
            if aside is not None:
                logger.warning(
                    "The token cache file %s is unreadable (%s); moved it to %s and "
                    "continuing with the tokens held in memory",
                    self._backend.location,
                    problem,
                    aside,
                )
            self._stored = _Sync(None, None, None, trusted=True)
            return
        self._warn(
            "corrupt",
            "The token cache stored in %s is unreadable (%s); continuing with the tokens "
            "held in memory, the next write replaces it",
            self._backend.location,
            problem,
        )
        self._stored = _Sync(snapshot.stamp, snapshot.digest, None, trusted=True)

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        """Log a WARNING for the first of a run of failures of one kind, then DEBUG."""
        level = logging.DEBUG if kind in self._warned else logging.WARNING
        self._warned.add(kind)
        logger.log(level, message, *args)

    def _ok(self, kind: str) -> None:
        self._warned.discard(kind)


def _blank(text: Content) -> bool:
    """Empty or only whitespace (without copying a big text, as ``strip()`` may)."""
    return not text or text.isspace()


def _trusted(snapshot: Snapshot, read_at_ns: int) -> bool:
    return snapshot.stamp is not None and snapshot.stamp.trusted_at(read_at_ns)


def _describe(error: BaseException) -> str:
    """A one-line description of a store failure (never content)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
