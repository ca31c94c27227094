"""A big cache file (issue #18, first token from a persisted cache): read as the bytes the
file holds (no str made of them, hashed once) and loaded lazily, through both APIs; a
corrupt big file is set aside at its first read, as a small one is, never served."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Callable

import pytest

from tests._servers import require_module

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("msgspec")  # the lazy load is msgspec's (a dependency on CPython)
require_module("httpx")

import identitylib
from identitylib import aio
from identitylib._cache import _serialization
from identitylib._persistence import PersistedTokenCache, _backend
from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator
from tests.aio._support import APP_SCOPES, token_posts
from tests.cache._builders import scope_of, tenant_of

from ._helpers import app_event

ENV = "login.microsoftonline.com"
CLIENT = "cid-0000"
TENANTS = 60
SCOPES = 5


def big_state(secret_of: Callable[[int, int], str] = lambda i, j: f"t{i}-{j}") -> dict[str, Any]:
    tokens = {
        f"-{ENV}-accesstoken-{CLIENT}-{tenant_of(i)}-{scope_of(j)}": {
            "credential_type": "AccessToken",
            "secret": secret_of(i, j),
            "home_account_id": None,
            "environment": ENV,
            "client_id": CLIENT,
            "target": scope_of(j),
            "realm": tenant_of(i),
            "token_type": "Bearer",
            "cached_at": "1700000000",
            "expires_on": "4102444800",  # 2100
            "extended_expires_on": "4102444800",
        }
        for i in range(TENANTS)
        for j in range(SCOPES)
    }
    return {"AccessToken": tokens, "AppMetadata": {}}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "tokens.json"


def write(path: Path, data: bytes) -> None:
    assert len(data) >= _serialization.FAST_PATH_MIN_CHARS  # the lazy (msgspec) path
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)


class Observed:
    """What the caches' reads returned and how many digests (SHA-256) were computed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[Any] = []
        self.digests = 0
        original_digest = _backend.digest_of

        def digest(data: bytes) -> bytes:
            self.digests += 1
            return original_digest(data)

        monkeypatch.setattr(_backend, "digest_of", digest)
        for backend in (_backend.PlainFileBackend, _backend.StoreBackend):
            self._record(monkeypatch, backend)

    def _record(self, monkeypatch: pytest.MonkeyPatch, backend: type[_backend.Backend]) -> None:
        original = backend.read

        def read(this: _backend.Backend) -> _backend.Snapshot:
            snapshot = original(this)
            self.texts.append(snapshot.text)
            return snapshot

        monkeypatch.setattr(backend, "read", read)


def decoded(cache: PersistedTokenCache) -> int:
    return sum(type(entry) is dict for entry in dict.values(cache._cache["AccessToken"]))


def first_token(api: str, cache: PersistedTokenCache, tenant: int, scope: int) -> Any:
    authority = f"https://{ENV}/{tenant_of(tenant)}"
    if api == "blocking":
        app = identitylib.ConfidentialClientApplication(
            CLIENT, "secret", authority=authority, token_cache=cache
        )
        return app.acquire_token_for_client([scope_of(scope)])

    async def acquire() -> Any:
        app = aio.ConfidentialClientApplication(
            CLIENT, "secret", authority=authority, token_cache=cache
        )
        return await app.acquire_token_for_client([scope_of(scope)])

    return asyncio.run(acquire())


def make(api: str, location: Any) -> PersistedTokenCache:
    return aio.PersistedTokenCache(location) if api == "asyncio" else PersistedTokenCache(location)


class BytesStore:
    """A custom persistence whose load() returns the bytes it holds."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, content: str) -> None:
        self.path.write_text(content, encoding="utf-8")

    def load(self) -> bytes:
        return self.path.read_bytes()

    def time_last_modified(self) -> float:
        return self.path.stat().st_mtime

    def get_location(self) -> str:
        return str(self.path)


# ------------------------------------------------------------------ a big file, one hit


@pytest.mark.parametrize("api", ["blocking", "asyncio"])
@pytest.mark.parametrize("store", ["path", "bytes store"])
def test_the_first_token_reads_the_files_bytes_hashes_nothing_decodes_little(
    api: str, store: str, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.dumps(big_state()).encode("ascii")
    write(path, data)
    observed = Observed(monkeypatch)
    cache = make(api, str(path) if store == "path" else BytesStore(path))
    result = first_token(api, cache, 7, 3)
    assert (result["access_token"], result["token_source"]) == ("t7-3", "cache")
    assert observed.texts == [data]  # the bytes as read, not a str made of them
    assert type(observed.texts[0]) is bytes
    assert observed.digests == 0  # needed only once the file changes or is written
    assert 1 <= decoded(cache) <= SCOPES  # of TENANTS * SCOPES: the tenant's at most
    assert cache.flush()
    assert path.read_bytes() == data  # nothing changed, nothing written


@pytest.mark.parametrize("api", ["blocking", "asyncio"])
def test_a_big_utf8_file_that_is_not_ascii_is_read_as_text(
    api: str, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = big_state(lambda i, j: f"t{i}-{j}-ë")
    data = json.dumps(state, ensure_ascii=False).encode("utf-8")
    write(path, data)
    observed = Observed(monkeypatch)
    cache = make(api, str(path))
    result = first_token(api, cache, 2, 1)
    assert (result["access_token"], result["token_source"]) == ("t2-1-ë", "cache")
    assert observed.texts == [data]  # decoded by deserialize(), once
    assert observed.digests == 0


@pytest.mark.parametrize("api", ["blocking", "asyncio"])
def test_the_digest_is_computed_when_the_file_changes_and_still_tells_unchanged_content(
    api: str, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest of the bytes first read, computed only once the file's stamp changed,
    still says "unchanged": a file rewritten with the same content is not loaded again;
    one rewritten with other content is."""
    data = json.dumps(big_state()).encode("ascii")
    write(path, data)
    observed = Observed(monkeypatch)
    cache = make(api, str(path))
    assert first_token(api, cache, 1, 1)["access_token"] == "t1-1"
    assert observed.digests == 0
    applied: list[Any] = []
    original = PersistedTokenCache._apply
    monkeypatch.setattr(
        PersistedTokenCache, "_apply", lambda this, text: (applied.append(1), original(this, text))
    )
    path.write_bytes(data)  # another process rewrote it, same content
    assert first_token(api, cache, 1, 2)["access_token"] == "t1-2"
    assert (applied, observed.digests) == ([], 2)  # the old content's and the new one's
    path.write_bytes(data.replace(b'"t1-3"', b'"t1-3-renewed"'))
    assert first_token(api, cache, 1, 3)["access_token"] == "t1-3-renewed"
    assert (applied, observed.digests) == ([1], 3)


# ------------------------------------------------------------------ a corrupt big file


def _emulator_file(emu: Emulator, marker: bytes) -> bytes:
    """A big cache file holding a valid token for the emulator's daemon (secret
    ``marker``) among tokens of other tenants."""
    small = identitylib.SerializableTokenCache()
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), token_cache=small
    )
    assert app.acquire_token_for_client(APP_SCOPES)["token_source"] == "identity_provider"
    ((key, entry),) = small._cache["AccessToken"].items()
    tokens = {key: {**entry, "secret": marker.decode()}}
    for i in range(TENANTS * SCOPES):
        other = f"{i:08d}-9999-9999-9999-999999999999"
        tokens[key.replace(entry["realm"], other)] = {
            **entry, "realm": other, "secret": f"secret-token-{i}"
        }  # fmt: skip
    return json.dumps({"AccessToken": tokens, "AppMetadata": {}}).encode("ascii")


CORRUPT: dict[str, Callable[[bytes], bytes]] = {
    "intact (control)": lambda data: data,
    "truncated": lambda data: data[: len(data) * 2 // 3],
    "truncated after the token": lambda data: data[:-3],
    "not UTF-8 in a value": lambda data: data.replace(b"secret-token-7", b"secret-\xff-7", 1),
    "broken entry": lambda data: data.replace(b'"secret-token-9",', b'"secret-token-9",,', 1),
    "a NUL first": lambda data: b"\x00" + data,
}


@pytest.mark.parametrize("api", ["blocking", "asyncio"])
@pytest.mark.parametrize("how", CORRUPT.keys())
def test_a_corrupt_big_file_is_set_aside_at_its_first_read_never_served(
    api: str, how: str, path: Path, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    marker = b"secret-token-from-the-file"
    content = CORRUPT[how](_emulator_file(emulator, marker))
    write(path, content)
    emulator.reset_requests()
    cache = make(api, str(path))
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        if api == "blocking":
            app = identitylib.ConfidentialClientApplication(
                DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority(),
                token_cache=cache,
            )  # fmt: skip
            result = app.acquire_token_for_client(APP_SCOPES)
        else:

            async def acquire() -> Any:
                app = aio.ConfidentialClientApplication(
                    DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority(),
                    token_cache=cache,
                )  # fmt: skip
                return await app.acquire_token_for_client(APP_SCOPES)

            result = asyncio.run(acquire())
    if how == "intact (control)":
        assert (result["access_token"], result["token_source"]) == (marker.decode(), "cache")
        assert token_posts(emulator) == 0
        return
    assert result["token_source"] == "identity_provider"  # the file's token never served
    assert result["access_token"] != marker.decode()
    assert token_posts(emulator) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "unreadable" in warnings[0]
    assert "secret-token" not in caplog.text
    (aside,) = path.parent.glob("tokens.json.corrupt-*")
    assert aside.read_bytes() == content
    assert marker not in path.read_bytes()  # the file now holds the new token alone


def test_a_write_keeps_no_copy_of_what_it_wrote(path: Path) -> None:
    """The digests kept after a write are computed at once: the serialized text is not
    held until the next comparison (a first write, to a file that did not exist)."""
    cache = PersistedTokenCache(str(path))
    cache.add(app_event("api://one/.default", "one"))
    assert json.loads(path.read_text())["AccessToken"]
    stored = cache._stored
    assert stored is not None
    assert stored.digest is not None
    assert stored.text_digest is not None
    assert (stored.digest._content, stored.text_digest._content) == (None, None)
