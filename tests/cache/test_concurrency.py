"""Many threads adding, searching and removing at once never corrupt the indices."""

from __future__ import annotations

import random
import threading
from typing import Any, Callable

from identitylib._cache import SerializableTokenCache
from identitylib._cache._index import build_indices

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
