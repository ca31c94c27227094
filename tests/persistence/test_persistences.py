"""The kinds of persistence, build_persistence, and the optional-dependency errors."""

from __future__ import annotations

import codecs
import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import identitylib
from identitylib._persistence import (
    PersistedTokenCache,
    PersistenceUnavailableError,
    build_persistence,
)
from tests._servers import require_module

from ._helpers import add_token, at_secrets

extensions = require_module("msal_extensions")


class Rot13Persistence(extensions.FilePersistence):  # type: ignore[misc,name-defined]
    """A FilePersistence that transforms its content, as the DPAPI one does."""

    is_encrypted = True

    def save(self, content: str) -> None:
        with open(self.get_location(), "w", encoding="utf-8") as handle:
            handle.write(codecs.encode(content, "rot13"))

    def load(self) -> str:
        with open(self.get_location(), encoding="utf-8") as handle:
            return codecs.decode(handle.read(), "rot13")


class SecretStore:
    """A Keychain/Libsecret-like persistence: content elsewhere, a signal file here."""

    is_encrypted = True
    vault: dict[str, str] = {}

    def __init__(self, signal: Path) -> None:
        self.signal = signal
        self.saves = 0

    def save(self, content: str) -> None:
        self.vault[str(self.signal)] = content
        self.saves += 1
        self.signal.touch()

    def load(self) -> str:
        if str(self.signal) not in self.vault:
            raise extensions.persistence.PersistenceNotFound(message="nothing saved yet")
        return self.vault[str(self.signal)]

    def time_last_modified(self) -> float:
        return self.signal.stat().st_mtime

    def get_location(self) -> str:
        return str(self.signal)


# ----------------------------------------------------------------------- kinds


def test_file_persistence_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    cache = PersistedTokenCache(extensions.FilePersistence(str(path)))
    add_token(cache, "one")
    inode = path.stat().st_ino
    add_token(cache, "two")
    assert path.stat().st_ino != inode
    assert at_secrets(path) == {"one", "two"}


def test_a_transforming_file_persistence_saves_through_a_twin(tmp_path: Path) -> None:
    path = tmp_path / "c.bin"
    persistence = Rot13Persistence(str(path))
    cache = PersistedTokenCache(persistence)
    assert cache.is_encrypted is True
    add_token(cache, "secret-one")
    inode = path.stat().st_ino
    add_token(cache, "secret-two")
    assert path.stat().st_ino != inode  # Atomically replaced.
    assert b"secret" not in path.read_bytes()  # Written by the persistence's own save().
    assert persistence.get_location() == str(path)  # The original is untouched.
    reader = PersistedTokenCache(Rot13Persistence(str(path)))
    assert {e["secret"] for e in reader.search("AccessToken")} == {"secret-one", "secret-two"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.bin"]


def test_a_secret_store_persistence_is_used_through_its_api(tmp_path: Path) -> None:
    SecretStore.vault.clear()
    signal = tmp_path / "signal"
    store = SecretStore(signal)
    cache = PersistedTokenCache(store)
    assert list(cache.search("AccessToken")) == []  # Nothing saved yet: empty.
    add_token(cache, "one")
    assert store.saves == 1
    other = PersistedTokenCache(SecretStore(signal))
    add_token(other, "two")  # Merged with what the store holds.
    assert {e["secret"] for e in cache.search("AccessToken")} == {"one", "two"}
    assert (tmp_path / "signal.lockfile").exists() is False


def test_corrupt_content_in_a_secret_store_is_replaced_by_the_next_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SecretStore.vault.clear()
    store = SecretStore(tmp_path / "signal")
    store.save("not json: secret-token-9")
    cache = PersistedTokenCache(store)
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        assert list(cache.search("AccessToken")) == []
        assert list(cache.search("AccessToken")) == []
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert "secret-token-9" not in caplog.text
    add_token(cache, "fresh")
    assert "fresh" in store.load()


def test_a_plain_path_needs_no_msal_extensions(tmp_path: Path) -> None:
    cache = PersistedTokenCache(tmp_path / "c.json")
    add_token(cache, "one")
    assert at_secrets(tmp_path / "c.json") == {"one"}


# ------------------------------------------------------------ build_persistence


def test_build_persistence_plain_text_on_request(tmp_path: Path) -> None:
    persistence = build_persistence(tmp_path / "c.json", encrypt=False)
    assert type(persistence) is extensions.FilePersistence
    assert persistence.get_location() == str(tmp_path / "c.json")


def test_build_persistence_uses_the_platforms_encrypted_persistence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = SecretStore(tmp_path / "signal")
    seen: list[str] = []

    def build(location: str) -> Any:
        seen.append(location)
        return sentinel

    monkeypatch.setattr(extensions, "build_encrypted_persistence", build)
    assert build_persistence(str(tmp_path / "c.bin")) is sentinel
    assert seen == [str(tmp_path / "c.bin")]


def _unavailable(location: str) -> Any:
    raise RuntimeError("Unable to import module 'gi'")


def test_build_persistence_refuses_plain_text_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extensions, "build_encrypted_persistence", _unavailable)
    with pytest.raises(PersistenceUnavailableError, match="allow_unencrypted=True") as raised:
        build_persistence(tmp_path / "c.json")
    assert isinstance(raised.value, identitylib.MsalError)
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_build_persistence_falls_back_to_plain_text_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(extensions, "build_encrypted_persistence", _unavailable)
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        persistence = build_persistence(tmp_path / "c.json", allow_unencrypted=True)
    assert type(persistence) is extensions.FilePersistence
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "PLAIN TEXT" in record.getMessage()


# ------------------------------------------------------------ file modes

needs_posix_modes = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which os.makedirs' default mode gives 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@needs_posix_modes
@pytest.mark.usefixtures("usual_umask")
def test_build_persistence_creates_missing_directories_0700(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain" / "cache" / "c.json"
    build_persistence(plain, encrypt=False)
    assert (mode(plain.parent), mode(plain.parent.parent)) == (0o700, 0o700)

    seen: list[int] = []

    def encrypted(location: str) -> Any:  # the platform's store, given a ready directory
        seen.append(mode(Path(location).parent))
        return SecretStore(Path(location))

    monkeypatch.setattr(extensions, "build_encrypted_persistence", encrypted)
    build_persistence(tmp_path / "store" / "c.bin")
    assert seen == [0o700]

    monkeypatch.setattr(extensions, "build_encrypted_persistence", _unavailable)
    fallback = tmp_path / "fallback" / "c.json"
    build_persistence(fallback, allow_unencrypted=True)
    assert mode(fallback.parent) == 0o700


@needs_posix_modes
@pytest.mark.usefixtures("usual_umask")
def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(0o755)
    cache = PersistedTokenCache(build_persistence(shared / "c.json", encrypt=False))
    add_token(cache, "one")
    assert mode(shared) == 0o755
    assert mode(shared / "c.json") == 0o600


@needs_posix_modes
def test_the_file_stays_0600_across_rewrites(tmp_path: Path) -> None:
    previous = os.umask(0)  # the most permissive umask: modes come from the code alone
    try:
        path = tmp_path / "cache" / "c.json"
        cache = PersistedTokenCache(build_persistence(path, encrypt=False))
        other = PersistedTokenCache(str(path))  # another process, through a plain path
        for name in ("one", "two", "three"):
            add_token(cache, name)
            assert mode(path) == 0o600
            add_token(other, name + "-other")
            assert mode(path) == 0o600
    finally:
        os.umask(previous)
    assert mode(path.parent) == 0o700
    assert at_secrets(path) == {"one", "two", "three", "one-other", "two-other", "three-other"}


# ------------------------------------------------------- optional dependencies


@pytest.mark.parametrize(
    ("module", "build"),
    [
        ("msal_extensions", lambda path: build_persistence(path)),
        ("portalocker", lambda path: PersistedTokenCache(path)),
    ],
)
def test_missing_optional_dependency_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, build: Any
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # "import module" now fails.
    with pytest.raises(ImportError, match=r"identitylib\[persistence\]"):
        build(str(tmp_path / "c.json"))
