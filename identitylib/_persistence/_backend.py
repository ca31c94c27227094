"""Adapters over the persistences a PersistedTokenCache can use.

* a plain file (a path, or msal-extensions' ``FilePersistence``): read and written
  here, with atomic replacement;
* a ``FilePersistence`` subclass that transforms the content (e.g. Windows DPAPI in
  ``FilePersistenceWithDataProtection``): the persistence's own ``save()`` writes a
  temporary twin of it, which then atomically replaces the file;
* anything else with ``save``/``load``/``time_last_modified``/``get_location``
  (Keychain, Libsecret, custom stores): used through that API; such stores replace
  their content atomically by nature, and ``get_location()`` names a signal file whose
  modification time announces changes.

Each adapter reports a ``Stamp`` (a cheap fingerprint telling whether the content may
have changed) and reads a ``Snapshot`` (stamp, digest of the raw content, text).
"""

from __future__ import annotations

import copy
import errno
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Protocol, Union, runtime_checkable

from identitylib._log import get_logger

from ._atomic import ensure_directory, replace_with, sweep_temp_files, write_atomically
from ._deps import loaded_msal_extensions_class

logger = get_logger(__name__)


@runtime_checkable
class Persistence(Protocol):
    """What msal-extensions' persistences offer (and a custom one must)."""

    def save(self, content: str) -> None: ...

    def load(self) -> str: ...

    def time_last_modified(self) -> float: ...

    def get_location(self) -> str: ...


PersistenceLike = Union[Persistence, str, "os.PathLike[str]"]


class Stamp(NamedTuple):
    """Identity and size of the stored content (``ident``) and its modification time.

    Equal stamps mean "unchanged" only when the modification time is old enough that a
    later write could not have kept it (``trusted_at``); ``mtime_ns`` None means the
    store offers no usable time, so its content is always compared.
    """

    ident: tuple[Any, ...]
    mtime_ns: Optional[int]

    def trusted_at(self, now_ns: int) -> bool:
        """Whether a write after ``now_ns`` is sure to change this stamp."""
        if self.mtime_ns is None:
            return False
        # Sub-second timestamps: writes in one clock tick (<= ~10 ms) share an mtime.
        # Whole-second timestamps (FAT, HFS+, some network shares): up to 2 s.
        window = 100_000_000 if self.mtime_ns % 1_000_000_000 else 2_500_000_000
        return now_ns - self.mtime_ns >= window


#: Stored content: a ``str``, or the ``bytes`` read (UTF-8 text if not corrupt; the
#: cache's ``deserialize()`` reads them, without decoding them first when they are ASCII,
#: and refuses what is not UTF-8).
Content = Union[str, bytes]


@dataclass(frozen=True)
class Snapshot:
    """What a read found: nothing (``missing``), text, or undecodable content.

    ``text_digest`` is the digest of the text as UTF-8 when the read knows it (the raw
    content is that text, if it is text at all), else None.
    """

    stamp: Optional[Stamp]
    digest: Optional[Digest]
    text: Optional[Content]
    problem: Optional[str] = None
    missing: bool = False
    text_digest: Optional[Digest] = None


MISSING = Snapshot(stamp=None, digest=None, text=None, missing=True)


def digest_of(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Digest:
    """The SHA-256 of some content (a ``str`` counts as its UTF-8), computed when first
    compared and holding the content until then: a process that serves its tokens from
    a big file never needs it (about 40 ms for 50 MB), only one that sees the file
    change or writes it. Compared under the cache's lock only."""

    __slots__ = ("_content", "_value")

    def __init__(self, content: Optional[Content] = None, *, value: Optional[bytes] = None):
        self._content = None if value is not None else content
        self._value = value

    def value(self) -> bytes:
        if self._value is None:
            content = self._content if self._content is not None else b""
            if isinstance(content, str):
                content = content.encode("utf-8", "surrogatepass")
            self._value = digest_of(content)
            self._content = None
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Digest):
            return NotImplemented
        return self is other or self.value() == other.value()

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]


def text_digest_of(snapshot: Snapshot) -> Optional[Digest]:
    """The digest of the snapshot's text as UTF-8 (None: no text)."""
    if snapshot.text_digest is not None or snapshot.text is None:
        return snapshot.text_digest
    return Digest(snapshot.text)


def _file_stamp(result: os.stat_result) -> Stamp:
    return Stamp((result.st_dev, result.st_ino, result.st_size), result.st_mtime_ns)


def is_not_found(error: BaseException) -> bool:
    """A store that does not exist yet (msal-extensions' PersistenceNotFound, ENOENT)."""
    not_found = loaded_msal_extensions_class("PersistenceNotFound")
    if not_found is not None and isinstance(error, not_found):
        return True
    return isinstance(error, FileNotFoundError) or getattr(error, "errno", None) == errno.ENOENT


def is_undecryptable(error: BaseException) -> bool:
    """Content that cannot be decrypted (msal-extensions' PersistenceDecryptionError)."""
    failed = loaded_msal_extensions_class("PersistenceDecryptionError")
    return failed is not None and isinstance(error, failed)


class Backend:
    """Common interface; see the module docstring."""

    #: Whether corrupt content can be renamed aside (file-backed content only).
    is_file = False

    def __init__(self, location: str, *, is_encrypted: bool) -> None:
        self.location = location
        self.is_encrypted = is_encrypted

    def stamp(self) -> Optional[Stamp]:
        """The content's fingerprint, None when there is no content."""
        raise NotImplementedError

    def read(self) -> Snapshot:
        """The content. Raises on I/O failures other than "not found"."""
        raise NotImplementedError

    def write(self, text: str) -> tuple[Optional[Stamp], Optional[Digest]]:
        """Store ``text``; returns the new stamp and raw digest (None when unknown)."""
        raise NotImplementedError

    def set_aside(self, suffix: str) -> Optional[str]:
        """Rename the stored content to ``<location><suffix>``; None if not possible."""
        return None

    def sweep(self) -> None:
        """Remove leftovers of interrupted writes (call with the lock held)."""


class PlainFileBackend(Backend):
    """A plain-text file, read here and replaced atomically."""

    is_file = True

    def stamp(self) -> Optional[Stamp]:
        try:
            return _file_stamp(os.stat(self.location))
        except FileNotFoundError:
            return None

    def _read_raw(self) -> tuple[Optional[Stamp], Optional[bytes]]:
        try:
            with open(self.location, "rb") as handle:
                stamp = _file_stamp(os.fstat(handle.fileno()))  # Before reading: see docs.
                return stamp, handle.read()
        except FileNotFoundError:
            return None, None

    def read(self) -> Snapshot:
        stamp, raw = self._read_raw()
        if raw is None:
            return MISSING
        digest = Digest(raw)  # (the bytes are the text's, if they are text at all)
        return Snapshot(stamp, digest, raw, text_digest=digest)

    def write(self, text: str) -> tuple[Optional[Stamp], Optional[Digest]]:
        data = text.encode("utf-8")
        write_atomically(self.location, data)
        return self.stamp(), Digest(value=digest_of(data))

    def set_aside(self, suffix: str) -> Optional[str]:
        target = self.location + suffix
        counter = 0
        while os.path.exists(target):
            counter += 1
            target = f"{self.location}{suffix}-{counter}"
        os.rename(self.location, target)
        return target

    def sweep(self) -> None:
        sweep_temp_files(self.location)


class TwinFileBackend(PlainFileBackend):
    """A FilePersistence subclass whose ``save``/``load`` transform the content.

    Writes go through a copy of the persistence pointed at a temporary file (its own
    ``save()`` does the transformation, e.g. DPAPI encryption), which then atomically
    replaces the file.
    """

    def __init__(self, persistence: Persistence) -> None:
        super().__init__(
            persistence.get_location(), is_encrypted=bool(getattr(persistence, "is_encrypted", 0))
        )
        self.persistence = persistence

    def read(self) -> Snapshot:
        stamp, raw = self._read_raw()
        if raw is None:
            return MISSING
        try:
            text = self.persistence.load()
        except Exception as error:
            if is_not_found(error):
                return MISSING
            if is_undecryptable(error) or isinstance(error, ValueError):
                return Snapshot(stamp, Digest(raw), None, type(error).__name__)
            raise
        if not isinstance(text, str):
            return Snapshot(stamp, Digest(raw), None, "load() did not return text")
        return Snapshot(stamp, Digest(raw), text)

    def write(self, text: str) -> tuple[Optional[Stamp], Optional[Digest]]:
        written: list[bytes] = []

        def fill(temp: str) -> None:
            twin = copy.copy(self.persistence)
            twin._location = temp  # type: ignore[attr-defined]  # FilePersistence's own field
            twin.save(text)
            with open(temp, "rb") as handle:
                written.append(handle.read())

        replace_with(self.location, fill)
        return self.stamp(), Digest(value=digest_of(written[0]))


class StoreBackend(Backend):
    """Any other persistence (Keychain, Libsecret, custom): its own save/load."""

    def __init__(self, persistence: Persistence) -> None:
        super().__init__(
            persistence.get_location(), is_encrypted=bool(getattr(persistence, "is_encrypted", 0))
        )
        self.persistence = persistence

    def stamp(self) -> Optional[Stamp]:
        try:
            return _file_stamp(os.stat(self.location))  # The signal file.
        except (OSError, TypeError, ValueError):
            pass
        try:
            modified = self.persistence.time_last_modified()
        except Exception as error:
            if is_not_found(error):
                return None
            return Stamp((), None)  # Unknown: compare the content every time.
        return Stamp(("time_last_modified",), int(float(modified) * 1e9))

    def read(self) -> Snapshot:
        stamp = self.stamp()
        try:
            loaded: Any = self.persistence.load()
        except Exception as error:
            if is_not_found(error):
                return MISSING
            if is_undecryptable(error):
                return Snapshot(stamp, None, None, type(error).__name__)
            raise
        if isinstance(loaded, (bytes, bytearray)):
            raw = bytes(loaded)
            digest = Digest(raw)
            return Snapshot(stamp, digest, raw, text_digest=digest)
        if not isinstance(loaded, str):
            return Snapshot(stamp, None, None, "load() did not return text")
        digest = Digest(loaded)
        return Snapshot(stamp, digest, loaded, text_digest=digest)

    def write(self, text: str) -> tuple[Optional[Stamp], Optional[Digest]]:
        self.persistence.save(text)
        return self.stamp(), Digest(value=digest_of(text.encode("utf-8", "surrogatepass")))


def make_backend(persistence: PersistenceLike) -> Backend:
    """The adapter for ``persistence`` (a path, or a persistence object)."""
    if isinstance(persistence, (str, os.PathLike)):
        path = os.path.abspath(os.path.expanduser(os.fspath(persistence)))
        ensure_directory(path)
        return PlainFileBackend(path, is_encrypted=False)
    for method in ("save", "load", "time_last_modified", "get_location"):
        if not callable(getattr(persistence, method, None)):
            raise TypeError(
                f"persistence must be a path or an object with save(), load(), "
                f"time_last_modified() and get_location(); {type(persistence).__name__} "
                f"has no {method}()"
            )
    file_persistence = loaded_msal_extensions_class("FilePersistence")
    if file_persistence is not None and isinstance(persistence, file_persistence):
        if type(persistence) is file_persistence:
            return PlainFileBackend(persistence.get_location(), is_encrypted=False)
        if hasattr(persistence, "_location"):
            return TwinFileBackend(persistence)
        logger.debug("%s: writes are done in place by the persistence", type(persistence))
    return StoreBackend(persistence)


def now_ns() -> int:
    return time.time_ns()
