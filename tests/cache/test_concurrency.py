"""Many threads adding, searching and removing at once never corrupt the indices."""

from __future__ import annotations

import random
import sys
import threading
from typing import Any, Callable

from identitylib._cache import SerializableTokenCache
from identitylib._cache._index import build_indices
from identitylib._cache._own import indexed_account_refresh_tokens
from identitylib._cache._store import settled_account_refresh_tokens

from ._builders import HOST, NOW, at_query, client_credentials_event, user_event
from .test_consistency import snapshot

THREADS = 8
ROUNDS = 200


def worker(
    cache: SerializableTokenCache,
    seed: int,
    errors: list[BaseException],
    *,
    round_trips: bool = True,
    app_targets: set[str] | None = None,
) -> None:
    rng = random.Random(seed)
    try:
        for i in range(ROUNDS):
            if rng.random() < 0.5:
                target = f"s{seed}-{i % 20}"
                cache.add(client_credentials_event([target], access_token=f"a{seed}"), NOW)
                if app_targets is not None:
                    app_targets.add(target)
            else:
                cache.add(user_event(uid=f"u{seed}", access_token=f"u{seed}-{i}"), now=NOW)
            found = list(
                cache.search(
                    "AccessToken", target=["User.Read"], query=at_query(f"u{seed}.tid"), now=NOW
                )
            )
            assert all(e["home_account_id"] == f"u{seed}.tid" for e in found)
            if rng.random() < 0.2:
                for entry in cache._entries_of_account(f"u{seed}.tid", HOST)["AccessToken"]:
                    cache.remove_at(entry)
            if rng.random() < 0.05 and round_trips:
                cache.deserialize(cache.serialize())
            list(cache.search("Account", query={"environment": HOST}))
    except BaseException as error:  # Reported to the main thread.
        errors.append(error)


def run_workers(
    cache: SerializableTokenCache, options: Callable[[int], dict[str, Any]] = lambda n: {}
) -> list[BaseException]:
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=worker, args=(cache, n, errors), kwargs=options(n))
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def app_token_secrets(cache: SerializableTokenCache, target: str) -> list[str]:
    found = cache.search("AccessToken", target=[target], query=at_query(None), now=NOW)
    return [entry["secret"] for entry in found]


def test_concurrent_writers_readers_and_round_trips_keep_the_indices_whole():
    # A round trip (serialize, then deserialize) restores the content as it was when it was
    # serialized, so another thread's write in between is undone: which entries survive is
    # not fixed. What must hold is that the indices describe exactly what is stored, and that
    # every stored app token is found by its own scopes.
    cache = SerializableTokenCache()
    assert run_workers(cache) == []
    assert snapshot(cache._store.indices) == snapshot(build_indices(cache._cache))
    stored = [e for e in cache._cache["AccessToken"].values() if e["home_account_id"] is None]
    assert stored
    for entry in stored:
        assert app_token_secrets(cache, entry["target"]) == [entry["secret"]]


def test_concurrent_writers_and_readers_lose_no_write():
    cache = SerializableTokenCache()
    added: list[set[str]] = [set() for _ in range(THREADS)]

    def options(seed: int) -> dict[str, Any]:
        return {"round_trips": False, "app_targets": added[seed]}

    assert run_workers(cache, options) == []
    assert snapshot(cache._store.indices) == snapshot(build_indices(cache._cache))
    assert all(added)
    for seed, targets in enumerate(added):
        for target in targets:
            assert app_token_secrets(cache, target) == [f"a{seed}"]


def test_a_settled_refresh_token_read_racing_writes_is_never_torn():
    """The account's refresh tokens and the app's metadata, read without the lock while
    their sections are settled (``settled_account_refresh_tokens``), while other threads
    file and remove other apps' refresh tokens of the same account (its bucket of keys
    changing size) and replace the app's own: every read succeeds, and finds the app's own
    refresh token exactly once, whole (one of the secrets written), never a torn entry."""
    cache = SerializableTokenCache()
    cache.add(user_event(refresh_token="own-0"), now=NOW)
    home = "oid1.tid"
    own_secrets = {"own-0"}
    for n in range(1, 4 * ROUNDS):
        own_secrets.add(f"own-{n}")
    assert indexed_account_refresh_tokens(cache, home, HOST, "cid") is not None  # (indexed)
    key = cache.key_makers["AppMetadata"](environment=HOST, client_id="cid")
    settled = settled_account_refresh_tokens(cache._store, cache._cache, key, home, HOST)
    assert settled is not None  # (the read below is the lock-free one)
    assert len(settled[1]) == 1
    errors: list[BaseException] = []
    done = threading.Event()

    def write(seed: int) -> None:
        try:
            for i in range(ROUNDS):
                other = user_event(client_id=f"c{seed}-{i % 7}", refresh_token=f"x{seed}")
                cache.add(other, now=NOW)
                cache.add(user_event(refresh_token=f"own-{seed * ROUNDS + i + 1}"), now=NOW)
                for entry in cache._entries_of_account(home, HOST)["RefreshToken"]:
                    if entry["client_id"] != "cid" and i % 3 == 0:
                        cache.remove_rt(entry)
        except BaseException as error:  # Reported to the main thread.
            errors.append(error)

    def read() -> None:
        try:
            while not done.is_set():
                found = indexed_account_refresh_tokens(cache, home, HOST, "cid")
                assert found is not None
                metadata, refresh_tokens = found
                assert metadata is None or metadata["client_id"] == "cid"
                own = [e for e in refresh_tokens if e["client_id"] == "cid"]
                assert len(own) == 1, own
                assert own[0]["secret"] in own_secrets
                assert all(e["home_account_id"] == home for e in refresh_tokens)
        except BaseException as error:  # Reported to the main thread.
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # (threads switch often: the loops interleave)
    try:
        readers = [threading.Thread(target=read) for _ in range(2)]
        writers = [threading.Thread(target=write, args=(seed,)) for seed in range(3)]
        for thread in readers + writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=60)
        done.set()
        for thread in readers:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in readers + writers)
    assert not errors, errors[:3]
