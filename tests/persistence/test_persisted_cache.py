"""PersistedTokenCache: persistence, merging, change detection, failures."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import identitylib
from identitylib._cache import SerializableTokenCache
from identitylib._persistence import PersistedTokenCache, _persisted_cache
from identitylib._persistence._lock import CacheFileLock
from tests._idp import Idp
from tests.cache._builders import user_event

from ._helpers import add_token, app_event, at_secrets, stored
from .conftest import MakeCache


def _spy(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> list[Any]:
    calls: list[Any] = []
    original = getattr(obj, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, spy)
    return calls


def _age(path: Path, seconds: float = 60.0) -> None:
    """Backdate the file's mtime (as if written a while ago)."""
    old = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(old, old))


# --------------------------------------------------------------------- basics


def test_is_a_serializable_token_cache(make_cache: MakeCache) -> None:
    cache = make_cache()
    assert isinstance(cache, SerializableTokenCache)
    assert cache.is_encrypted is False
    assert cache.lock_location == cache.location + ".lockfile"


def test_rejects_an_object_that_is_not_a_persistence() -> None:
    with pytest.raises(TypeError, match="get_location"):
        PersistedTokenCache(object())  # type: ignore[arg-type]


def test_first_write_creates_a_0600_file_in_a_new_0700_directory(
    make_cache: MakeCache, cache_path: Path
) -> None:
    cache = make_cache()
    assert not cache_path.exists()
    add_token(cache, "one")
    assert at_secrets(cache_path) == {"one"}
    if os.name != "nt":
        assert stat.S_IMODE(cache_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(cache_path.parent.stat().st_mode) == 0o700
    assert sorted(os.listdir(cache_path.parent)) == ["tokens.json"]  # No lock or temp left.


def test_custom_lock_location(make_cache: MakeCache, tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "my.lock"
    cache = make_cache(lock_location=str(lock))
    assert cache.lock_location == str(lock)
    assert lock.parent.is_dir()
    holder = CacheFileLock(str(lock))
    assert holder.acquire(1)
    try:
        add_token(make_cache(lock_location=str(lock), lock_timeout=0.1), "blocked")
    finally:
        holder.release()
    add_token(cache, "one")
    assert "one" in at_secrets(cache.location)


def test_one_write_per_add_even_with_five_entries(
    make_cache: MakeCache, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = make_cache()
    writes = _spy(monkeypatch, cache._backend, "write")
    cache.add(user_event())  # AT, Account, IdToken, RT, AppMetadata: five modify() calls
    assert len(writes) == 1
    assert {name for name, section in stored(cache_path).items() if section} == {
        "AccessToken",
        "Account",
        "IdToken",
        "RefreshToken",
        "AppMetadata",
    }
    assert cache.has_state_changed is False
    assert cache.pending_changes == 0


def test_direct_modify_and_removals_are_written(make_cache: MakeCache, cache_path: Path) -> None:
    cache = make_cache()
    cache.add(user_event())
    (rt,) = cache.search("RefreshToken")
    cache.update_rt(rt, "rotated-rt")
    assert next(iter(stored(cache_path)["RefreshToken"].values()))["secret"] == "rotated-rt"
    (at,) = cache.search("AccessToken")
    cache.remove_at(at)
    assert stored(cache_path)["AccessToken"] == {}


def test_serialize_and_deserialize_act_on_memory_only(
    make_cache: MakeCache, cache_path: Path
) -> None:
    cache = make_cache()
    add_token(cache, "one")
    before = cache_path.read_bytes()
    other = SerializableTokenCache()
    other.add(app_event("api://x/.default", "x"))
    cache.deserialize(other.serialize())
    assert cache_path.read_bytes() == before
    assert json.loads(cache.serialize())["AccessToken"]


# ---------------------------------------------------------- sharing and merging


def test_lookups_see_tokens_written_by_another_cache(make_cache: MakeCache) -> None:
    writer, reader = make_cache(), make_cache()
    assert list(reader.search("AccessToken")) == []
    add_token(writer, "one")
    assert [e["secret"] for e in reader.search("AccessToken")] == ["one"]
    add_token(writer, "two")
    assert {e["secret"] for e in reader.search("AccessToken")} == {"one", "two"}


def test_concurrent_writers_keep_each_others_tokens(
    make_cache: MakeCache, cache_path: Path
) -> None:
    first, second = make_cache(), make_cache()
    add_token(first, "base")
    list(second.search("AccessToken"))  # Both now hold "base" in memory.
    add_token(first, "from-first")
    add_token(second, "from-second")  # second never read first's new token before.
    assert at_secrets(cache_path) == {"base", "from-first", "from-second"}
    assert {e["secret"] for e in second.search("AccessToken")} == at_secrets(cache_path)
    assert {e["secret"] for e in first.search("AccessToken")} == at_secrets(cache_path)


def test_removal_only_removes_what_this_cache_saw(make_cache: MakeCache, cache_path: Path) -> None:
    first, second = make_cache(), make_cache()
    add_token(first, "same-scope")
    (seen,) = second.search("AccessToken")
    # first replaces the token under the same key; second has not reloaded yet.
    first.add(app_event("api://same-scope/.default", "fresh"))
    with second._lock:
        second._depth += 1  # Hold back the reload a lookup would do.
        try:
            second.remove_at(seen)
        finally:
            second._depth -= 1
        second.flush()
    assert at_secrets(cache_path) == {"fresh"}  # Not removed: it is not what second saw.
    (current,) = second.search("AccessToken")
    second.remove_at(current)
    assert at_secrets(cache_path) == set()


def test_purging_an_expired_token_keeps_a_fresh_one_written_elsewhere(
    make_cache: MakeCache, cache_path: Path
) -> None:
    first, second = make_cache(), make_cache()
    first.add(app_event("api://a/.default", "old"), now=time.time() - 7200)  # Expired.
    assert len(list(second.search("AccessToken", query={"client_id": "cid"}))) == 0  # purged
    assert at_secrets(cache_path) == set()  # ...and the purge was written.
    first.add(app_event("api://a/.default", "old2"), now=time.time() - 7200)
    list(second.search("AccessToken"))  # second loads the expired token again...
    add_token(first, "a")  # ...first replaces it with a fresh one under the same key...
    with second._lock:
        second._depth += 1  # ...and second, not having reloaded, purges what it holds.
        try:
            second._purge([(k, e) for k, e in second._cache["AccessToken"].items()])
        finally:
            second._depth -= 1
        second.flush()
    assert at_secrets(cache_path) == {"a"}


def test_a_change_delayed_by_a_lock_outage_never_replaces_a_newer_token(
    make_cache: MakeCache, cache_path: Path
) -> None:
    delayed, other = make_cache(lock_timeout=0.1), make_cache()
    now = time.time()
    holder = CacheFileLock(delayed.lock_location)
    assert holder.acquire(1)
    try:
        delayed.add(app_event("api://k/.default", "older"), now=now)  # Stays pending.
    finally:
        holder.release()
    other.add(app_event("api://k/.default", "newer"), now=now + 60)
    assert delayed.flush() is True
    assert at_secrets(cache_path) == {"newer"}
    assert [e["secret"] for e in delayed.search("AccessToken")] == ["newer"]


def test_threads_sharing_one_cache_lose_nothing(make_cache: MakeCache, cache_path: Path) -> None:
    cache = make_cache()
    others = [make_cache() for _ in range(2)]

    def run(target: PersistedTokenCache, prefix: str) -> None:
        for n in range(25):
            add_token(target, f"{prefix}{n}")

    threads = [threading.Thread(target=run, args=(cache, f"t{i}-")) for i in range(4)]
    threads += [threading.Thread(target=run, args=(c, f"o{i}-")) for i, c in enumerate(others)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(at_secrets(cache_path)) == 6 * 25


def test_deleting_the_file_signs_every_process_out(make_cache: MakeCache, cache_path: Path) -> None:
    writer, reader = make_cache(), make_cache()
    add_token(writer, "one")
    assert len(list(reader.search("AccessToken"))) == 1
    cache_path.unlink()
    assert list(reader.search("AccessToken")) == []
    add_token(reader, "two")
    assert at_secrets(cache_path) == {"two"}


# ----------------------------------------------------------- change detection


def test_no_rewrite_when_nothing_changed(
    make_cache: MakeCache, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = make_cache()
    add_token(cache, "one", now=1_900_000_000)
    before = cache_path.stat()
    writes = _spy(monkeypatch, cache._backend, "write")
    for _ in range(3):
        assert list(cache.search("AccessToken", now=1_900_000_000))
    assert cache.flush() is True
    add_token(cache, "one", now=1_900_000_000)  # Same content: nothing to write.
    after = cache_path.stat()
    assert writes == []
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )


def test_an_app_cache_hit_neither_writes_nor_rereads(
    make_cache: MakeCache, cache_path: Path, monkeypatch: pytest.MonkeyPatch, tls_idp: Idp
) -> None:
    cache = make_cache()
    app = identitylib.ConfidentialClientApplication(**tls_idp.app_kwargs(), token_cache=cache)
    token = app.acquire_token_for_client(tls_idp.SCOPES)["access_token"]
    assert at_secrets(cache_path) == {token}
    _age(cache_path)
    cache.reload()  # Reads once: the stamp is now trustworthy.
    reads = _spy(monkeypatch, cache._backend, "read")
    writes = _spy(monkeypatch, cache._backend, "write")
    mtime = cache_path.stat().st_mtime_ns
    for _ in range(5):
        result = app.acquire_token_for_client(tls_idp.SCOPES)
        assert result["token_source"] == "cache"
    assert (reads, writes, tls_idp.token_posts()) == ([], [], 1)
    assert cache_path.stat().st_mtime_ns == mtime


def test_same_size_same_mtime_rewrite_is_still_noticed(
    make_cache: MakeCache, cache_path: Path
) -> None:
    """A rewrite in the same clock tick as the previous one keeps size and mtime."""
    writer, reader = make_cache(), make_cache()
    add_token(writer, "aaaa")
    assert [e["secret"] for e in reader.search("AccessToken")] == ["aaaa"]
    before = cache_path.stat()
    # An in-place rewrite (as msal-extensions does) that keeps size, inode and mtime.
    cache_path.write_bytes(cache_path.read_bytes().replace(b'"aaaa"', b'"bbbb"'))
    os.utime(cache_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert [e["secret"] for e in reader.search("AccessToken")] == ["bbbb"]


def test_no_reread_when_the_file_is_unchanged(
    make_cache: MakeCache, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, reader = make_cache(), make_cache()
    add_token(writer, "one")
    _age(cache_path)
    assert len(list(reader.search("AccessToken"))) == 1
    reads = _spy(monkeypatch, reader._backend, "read")
    for _ in range(10):
        assert len(list(reader.search("AccessToken"))) == 1
    assert reads == []
    add_token(writer, "two")
    assert len(list(reader.search("AccessToken"))) == 2
    assert len(reads) == 1


# ----------------------------------------------------------------- corruption

CORRUPT = {
    "garbage": b"this is not json at all secret-token-123",
    "truncated": b'{"AccessToken": {"k": {"secret": "secret-token-123", "cred',
    "array": b'["secret-token-123"]',
    "wrong-section-type": b'{"AccessToken": ["secret-token-123"]}',
    "not-utf8": b'{"AccessToken": "\xff\xfe secret-token-123"}',
    "blank": b"   \n",
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_file_is_set_aside_and_the_cache_carries_on(
    make_cache: MakeCache,
    cache_path: Path,
    content: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_path.parent.mkdir()
    cache_path.write_bytes(content)
    cache = make_cache()
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        assert list(cache.search("AccessToken")) == []
        assert list(cache.search("AccessToken")) == []  # No second warning, no crash.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "secret-token-123" not in caplog.text
    (aside,) = cache_path.parent.glob("tokens.json.corrupt-*")
    assert aside.read_bytes() == content
    assert not cache_path.exists()
    add_token(cache, "fresh")
    assert at_secrets(cache_path) == {"fresh"}


def test_a_file_corrupted_later_loses_nothing_held_in_memory(
    make_cache: MakeCache, cache_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = make_cache()
    add_token(cache, "one")
    cache_path.write_text("{ corrupt")
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        add_token(cache, "two")
    assert "moved it to" in caplog.text
    assert at_secrets(cache_path) == {"one", "two"}
    assert len(list(cache_path.parent.glob("tokens.json.corrupt-*"))) == 1


def test_a_half_written_file_is_reread_under_the_lock_not_set_aside(
    make_cache: MakeCache, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Content that does not parse without the lock is checked again with it."""
    writer, reader = make_cache(), make_cache()
    add_token(writer, "one")
    complete = cache_path.read_bytes()
    cache_path.write_bytes(complete[: len(complete) // 2])  # An in-place writer, mid-way.
    original_acquire = reader._file_lock.acquire

    def acquire(timeout: float) -> bool:
        cache_path.write_bytes(complete)  # The writer finishes before releasing its lock.
        return original_acquire(timeout)

    monkeypatch.setattr(reader._file_lock, "acquire", acquire)
    assert [e["secret"] for e in reader.search("AccessToken")] == ["one"]
    assert list(cache_path.parent.glob("*.corrupt-*")) == []


# -------------------------------------------------------------------- failures


def test_lock_timeout_serves_from_memory_and_writes_later(
    make_cache: MakeCache,
    cache_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_persisted_cache, "DEGRADED_LOCK_WAIT", 0.05)
    cache = make_cache(lock_timeout=0.3)
    add_token(cache, "one")
    holder = CacheFileLock(cache.lock_location)
    assert holder.acquire(1)
    waits: list[float] = []
    own_acquire = cache._file_lock.acquire

    def acquire(timeout: float) -> bool:
        waits.append(timeout)
        return own_acquire(timeout)

    monkeypatch.setattr(cache._file_lock, "acquire", acquire)
    try:
        with caplog.at_level(logging.WARNING, logger="identitylib"):
            add_token(cache, "two")  # Waits lock_timeout...
            add_token(cache, "three")  # ...then only DEGRADED_LOCK_WAIT.
        assert waits == [0.3, 0.05]
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        assert "Could not lock" in caplog.text
        assert {e["secret"] for e in cache.search("AccessToken")} == {"one", "two", "three"}
        assert cache.pending_changes == 3  # Two access tokens and the AppMetadata entry.
        assert at_secrets(cache_path) == {"one"}
    finally:
        holder.release()
    assert cache.flush() is True
    assert at_secrets(cache_path) == {"one", "two", "three"}
    assert cache.pending_changes == 0


def test_a_failed_write_keeps_the_changes_for_the_next_one(
    make_cache: MakeCache,
    cache_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = make_cache()
    original = cache._backend.write

    def disk_full(text: str) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache._backend, "write", disk_full)
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        add_token(cache, "one")
    assert "No space left" in caplog.text
    assert not cache_path.exists()
    assert [e["secret"] for e in cache.search("AccessToken")] == ["one"]
    monkeypatch.setattr(cache._backend, "write", original)
    add_token(cache, "two")
    assert at_secrets(cache_path) == {"one", "two"}


def test_an_unreadable_file_is_served_from_memory(
    make_cache: MakeCache,
    cache_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer, reader = make_cache(), make_cache()
    add_token(writer, "one")
    assert len(list(reader.search("AccessToken"))) == 1
    add_token(writer, "two")

    def denied() -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reader._backend, "read", denied)
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        for _ in range(3):
            assert [e["secret"] for e in reader.search("AccessToken")] == ["one"]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    monkeypatch.undo()
    assert len(list(reader.search("AccessToken"))) == 2


def test_a_stale_lock_file_from_a_killed_process_is_taken_over(
    make_cache: MakeCache, cache_path: Path
) -> None:
    cache = make_cache(lock_timeout=5)
    lock = Path(cache.lock_location)
    lock.write_text("4242 killed-app")  # Left behind: exists, but nobody holds it.
    add_token(cache, "one")
    # Written through: had the lock been waited out, the token would stay in memory only.
    assert at_secrets(cache_path) == {"one"}
    assert not lock.exists()


def test_temp_files_of_interrupted_writes_are_removed(
    make_cache: MakeCache, cache_path: Path
) -> None:
    cache = make_cache()
    add_token(cache, "one")
    leftover = cache_path.parent / ".tokens.json.abc123xy.tmp"
    leftover.write_text("half a cache")
    unrelated = cache_path.parent / ".tokens.json.notes.txt"
    unrelated.write_text("keep me")
    add_token(cache, "two")
    assert not leftover.exists()
    assert unrelated.exists()


# ------------------------------------------------------ application integration


def test_apps_in_two_processes_share_tokens_through_the_file(
    make_cache: MakeCache, cache_path: Path, tls_idp: Idp
) -> None:
    first = identitylib.ConfidentialClientApplication(
        **tls_idp.app_kwargs(), token_cache=make_cache()
    )
    issued = first.acquire_token_for_client(tls_idp.SCOPES)
    assert issued["token_source"] == "identity_provider"
    second = identitylib.ConfidentialClientApplication(
        **tls_idp.app_kwargs(), token_cache=make_cache()
    )
    result = second.acquire_token_for_client(tls_idp.SCOPES)
    assert (result["access_token"], result["token_source"]) == (issued["access_token"], "cache")
    assert tls_idp.token_posts() == 1  # the first app's only
    second.remove_tokens_for_client()
    assert at_secrets(cache_path) == set()
