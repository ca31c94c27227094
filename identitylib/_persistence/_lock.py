"""A cross-process lock on ``<cache file>.lockfile``, compatible with msal-extensions.

The convention (shared by msal-extensions' ``CrossPlatLock``, Azure CLI and
azure-identity) is: the lock file exists only while someone holds the lock; its
holder has an exclusive portalocker lock on it and wrote ``"<pid> <argv[0]>"`` into
it; the holder deletes it on release. Following both halves of the convention (the
file's existence and the OS lock) makes every one of those processes wait for us and
us for them.

On top of the convention this lock is robust where the plain convention is racy:

* after taking the OS lock it checks that the path still names the file it locked
  (a releasing holder may have deleted it meanwhile), and retries if not;
* a lock file that exists but that nobody holds is taken over only after it was seen
  unheld, with the same identity, for ``STALE_AFTER`` seconds: its creator was killed,
  and is not merely between creating the file and locking it;
* on POSIX the holder deletes the file *before* releasing the OS lock, so no other
  process can find it existing and unheld during a normal release. Windows cannot
  delete an open file: there a waiter that finds the file unheld deletes it (which
  fails harmlessly while anyone has it open) before trying again.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import IO, Optional

from identitylib._log import get_logger

from ._deps import import_portalocker, require_portalocker

logger = get_logger(__name__)

#: An existing, unheld lock file with an unchanged identity for this long is stale.
STALE_AFTER = 0.5
#: Polling interval bounds while waiting (jittered exponential back-off).
_FIRST_WAIT = 0.002
_LONGEST_WAIT = 0.05
#: How long the creator of a lock file retries its OS lock (see _try_once).
_CREATOR_PATIENCE = 0.25


class CacheFileLock:
    """An exclusive lock on ``path`` shared with msal-extensions' ``CrossPlatLock``.

    ``acquire(timeout)`` returns False when the lock could not be had in time; it
    never waits longer than ``timeout`` (plus one polling interval). Not re-entrant:
    the cache serializes its own threads with its RLock before taking this lock.
    ``clock`` (monotonic seconds) and ``sleep`` are injectable, as the retry policy's are.
    """

    def __init__(
        self,
        path: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self._clock = clock
        self._sleep = sleep
        self._handle: Optional[IO[bytes]] = None
        self._unheld_since: Optional[tuple[tuple[int, int], float]] = None
        require_portalocker()  # (a missing extra is reported here, imported when first locked)
        self._portalocker_module: Optional[ModuleType] = None

    @property
    def _portalocker(self) -> ModuleType:
        module = self._portalocker_module
        if module is None:
            module = self._portalocker_module = import_portalocker()
        return module

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds; False if not taken."""
        if self._handle is not None:
            raise RuntimeError("CacheFileLock is not re-entrant")
        deadline = self._clock() + max(0.0, timeout)
        wait = _FIRST_WAIT
        self._unheld_since = None
        while True:
            handle = self._try_once()
            if handle is not None:
                self._handle = handle
                return True
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            self._sleep(min(remaining, wait * (0.5 + random.random())))  # noqa: S311
            wait = min(wait * 2, _LONGEST_WAIT)

    def release(self) -> None:
        """Release the lock and delete the lock file (a no-op when not held)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        locker = self._portalocker
        if os.name != "nt":  # Delete while still holding it: waiters then see a new file.
            _remove_quietly(self.path, handle)
        try:
            locker.unlock(handle)
        except locker.exceptions.LockException:
            logger.debug("Could not unlock %s", self.path, exc_info=True)
        finally:
            handle.close()
        if os.name == "nt":  # Windows cannot delete an open file.
            _remove_quietly(self.path, None)

    def __enter__(self) -> CacheFileLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    # ----------------------------------------------------------------- internals

    def _try_once(self) -> Optional[IO[bytes]]:
        created = True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            created = False
            try:
                fd = os.open(self.path, os.O_RDWR)
            except FileNotFoundError:
                return None  # Released meanwhile: try again.
        handle = os.fdopen(fd, "r+b", buffering=0)
        # A file we just created is ours: another waiter may be probing it for
        # staleness and hold its OS lock for an instant, so insist briefly.
        if not self._lock_os(handle, _CREATOR_PATIENCE if created else 0.0):
            handle.close()
            self._unheld_since = None
            return None
        try:
            mine = os.fstat(fd)
            named = os.stat(self.path)
        except OSError:  # Deleted by its releasing holder: not the lock any more.
            self._unlock_and_close(handle)
            return None
        identity = (mine.st_dev, mine.st_ino)
        if identity != (named.st_dev, named.st_ino):
            self._unlock_and_close(handle)
            return None
        if not created and not self._is_stale(identity):
            self._unlock_and_close(handle)
            if os.name == "nt":
                # Windows cannot delete a file someone has open, so a releasing holder
                # may have left it behind for us. Deleting it is safe for the same
                # reason: it fails while anyone (a creator about to lock it) has it open.
                _remove_quietly(self.path, None)
            return None
        if not created:
            logger.warning(
                "Took over the stale token cache lock file %s (its holder has gone)", self.path
            )
        try:
            handle.truncate(0)
            handle.write(f"{os.getpid()} {sys.argv[0] if sys.argv else ''}".encode())
        except OSError:
            logger.debug("Could not write the lock file owner", exc_info=True)
        return handle

    def _lock_os(self, handle: IO[bytes], patience: float) -> bool:
        """Take the OS lock without blocking, retrying for ``patience`` seconds."""
        locker = self._portalocker
        flags = locker.LockFlags.EXCLUSIVE | locker.LockFlags.NON_BLOCKING
        give_up = self._clock() + patience
        while True:
            try:
                locker.lock(handle, flags)
            except locker.exceptions.LockException:
                if self._clock() >= give_up:
                    return False
                self._sleep(0.001)
            else:
                return True

    def _is_stale(self, identity: tuple[int, int]) -> bool:
        """True once the same unheld file has been seen for STALE_AFTER seconds."""
        now = self._clock()
        if self._unheld_since is None or self._unheld_since[0] != identity:
            self._unheld_since = (identity, now)
            return False
        return now - self._unheld_since[1] >= STALE_AFTER

    def _unlock_and_close(self, handle: IO[bytes]) -> None:
        locker = self._portalocker
        try:
            locker.unlock(handle)
        except locker.exceptions.LockException:
            pass
        finally:
            handle.close()


def _remove_quietly(path: str, handle: Optional[IO[bytes]]) -> None:
    """Delete the lock file if it is still ours (never a successor's)."""
    try:
        if handle is not None:
            mine = os.fstat(handle.fileno())
            named = os.stat(path)
            if (mine.st_dev, mine.st_ino) != (named.st_dev, named.st_ino):
                return
        os.remove(path)
    except OSError:
        pass  # Gone already, or (Windows) still open elsewhere: the next holder copes.
