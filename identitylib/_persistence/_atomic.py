"""Atomic file replacement: a reader sees the old file or the new one, never a mix.

The new content goes to a temporary file in the target's directory (mode 0600), is
flushed to disk with ``fsync`` and renamed over the target with ``os.replace``; the
directory is then synced so the rename survives a power cut. A process killed at any
moment leaves the target intact (at worst a stray temporary file, which the next
writer removes: only lock holders write temporary files, so any found by a lock
holder belongs to a writer that died).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from typing import Callable

from identitylib._log import get_logger

logger = get_logger(__name__)

_SUFFIX = ".tmp"
#: os.replace onto a file another process has open fails on Windows; retry briefly.
_REPLACE_ATTEMPTS = 10
_REPLACE_PAUSE = 0.05


def _temp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def ensure_directory(path: str) -> None:
    """Create the directory holding ``path`` (and parents) as 0700 when missing."""
    directory = os.path.dirname(os.path.abspath(path))
    missing: list[str] = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for level in reversed(missing):  # Each new level 0700 (makedirs' mode skips parents).
        with contextlib.suppress(FileExistsError):
            os.mkdir(level, 0o700)


def replace_with(path: str, fill: Callable[[str], None]) -> None:
    """Atomically replace ``path`` by a file that ``fill(temp_path)`` writes.

    ``fill`` receives the path of an empty 0600 file in the same directory. Raises
    OSError (the target is then untouched and the temporary file removed).
    """
    import tempfile  # (only to write: about 2.5 ms a process serving tokens never spends)

    directory = os.path.dirname(os.path.abspath(path))
    ensure_directory(path)
    fd, temp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=_SUFFIX, dir=directory)
    os.close(fd)
    try:
        fill(temp)
        _fsync_file(temp)
        _replace(temp, path)
    except BaseException:
        _remove_quietly(temp)
        raise
    _fsync_directory(directory)


def write_atomically(path: str, data: bytes) -> None:
    """Atomically replace ``path`` by a 0600 file holding ``data``."""

    def fill(temp: str) -> None:
        with open(temp, "wb") as handle:
            handle.write(data)

    replace_with(path, fill)


def sweep_temp_files(path: str) -> int:
    """Delete temporary files of ``path`` left by writers that died; returns the count.

    Call only while holding the cache's file lock.
    """
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(_temp_prefix(path)) + r"[A-Za-z0-9_]{4,32}" + re.escape(_SUFFIX))
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if pattern.fullmatch(name):
            try:
                os.remove(os.path.join(directory, name))
                removed += 1
            except OSError:
                pass
    if removed:
        logger.debug("Removed %d temporary file(s) left by an interrupted cache write", removed)
    return removed


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(source: str, target: str) -> None:
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            os.replace(source, target)
            return
        except PermissionError:  # Windows: the target is open in another process.
            if os.name != "nt" or attempt == _REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(_REPLACE_PAUSE)


def _fsync_directory(directory: str) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
