"""Many threads adding, searching and removing at once never corrupt the indices."""

from __future__ import annotations

import random
import threading

from identitylib._cache import SerializableTokenCache
from identitylib._cache._index import build_indices

from ._builders import HOST, NOW, at_query, client_credentials_event, user_event
from .test_consistency import snapshot

THREADS = 8
ROUNDS = 200


def worker(cache: SerializableTokenCache, seed: int, errors: list[BaseException]) -> None:
    rng = random.Random(seed)
    try:
        for i in range(ROUNDS):
            if rng.random() < 0.5:
                cache.add(
                    client_credentials_event([f"s{seed}-{i % 20}"], access_token=f"a{seed}"), NOW
                )
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
            if rng.random() < 0.05:
                cache.deserialize(cache.serialize())
            list(cache.search("Account", query={"environment": HOST}))
    except BaseException as error:  # Reported to the main thread.
        errors.append(error)


def test_concurrent_writers_and_readers():
    cache = SerializableTokenCache()
    errors: list[BaseException] = []
    threads = [threading.Thread(target=worker, args=(cache, n, errors)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert snapshot(cache._store.indices) == snapshot(build_indices(cache._cache))
    apps = cache.search("AccessToken", target=["s3-7"], query=at_query(None), now=NOW)
    assert [e["secret"] for e in apps] == ["a3"]
