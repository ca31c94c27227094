"""What a rotating-key cache hit reads (issue #18, workload 12): counts, not time.

A hit touches objects spread over the heap (its app, the index, the token), and at
10,000 apps or tokens each one no longer in the CPU's caches shows in its time. These tests
pin the cuts: the lane's objects sit in slots of the app object (no attribute table read),
the token is read as the exact-request index filed it (its expiry an int, not a string
parsed on every hit), an app token is looked up on the app's own shelf of the index (no
request key built, no stored key compared), and the calling thread's hits are counted in
the app object (no totals object read). Both APIs take the same way.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from identitylib import SerializableTokenCache, aio
from identitylib._cache._exact import scope_text
from identitylib._telemetry._totals import Totals

from ._builders import tenant_of
from .test_exact_hits import ENV, SCOPE, at, key_of
from .test_hit_lanes import client_app


@pytest.fixture
def no_network() -> Iterator[responses.RequestsMock]:
    """Any request fails the call (none is registered)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


class CountedExpiry(str):
    """An ``expires_on`` that counts how often it is parsed (``int()`` of a ``str``
    subclass calls ``__int__``)."""

    parsed = 0

    def __int__(self) -> int:
        CountedExpiry.parsed += 1
        return int(str(self))


class CountedType(str):
    """A ``token_type`` that counts how often its truth or length is asked."""

    asked = 0

    def __len__(self) -> int:
        CountedType.asked += 1
        return super().__len__()


def hits(api: str, app: Any, calls: int) -> list[dict[str, Any]]:
    if api == "aio":

        async def acquire() -> list[dict[str, Any]]:
            return [await app.acquire_token_for_client([SCOPE]) for _ in range(calls)]

        return asyncio.run(acquire())
    return [app.acquire_token_for_client([SCOPE]) for _ in range(calls)]


def cache_holding(entry: dict[str, Any]) -> SerializableTokenCache:
    cache = SerializableTokenCache()
    cache._cache["AccessToken"] = {key_of(entry): entry}  # as persistence layers do
    return cache


@pytest.mark.parametrize("api", ["sync", "aio"])
def test_a_hit_parses_no_expiry_string(no_network: responses.RequestsMock, api: str) -> None:
    entry = at("cached")
    entry["expires_on"] = CountedExpiry(int(time.time()) + 3600)
    entry["token_type"] = CountedType("Bearer")
    app = client_app(api, cache_holding(entry))
    hits(api, app, 2)  # the first lookup files the token (its expiry parsed once)
    CountedExpiry.parsed = CountedType.asked = 0
    results = hits(api, app, 5)
    assert [r["access_token"] for r in results] == ["cached"] * 5
    assert {r["token_source"] for r in results} == {"cache"}
    assert {type(r["token_type"]) for r in results} == {str}  # (the filed "Bearer")
    assert 3590 <= results[-1]["expires_in"] <= 3600
    assert CountedExpiry.parsed == 0
    assert CountedType.asked == 0
    assert len(no_network.calls) == 0


@pytest.mark.parametrize("api", ["sync", "aio"])
def test_an_expiry_assigned_in_place_is_parsed_again(
    no_network: responses.RequestsMock, api: str
) -> None:
    entry = at("cached")
    app = client_app(api, cache_holding(entry))
    hits(api, app, 2)
    entry["expires_on"] = CountedExpiry(int(time.time()) + 1800)
    CountedExpiry.parsed = 0
    (result,) = hits(api, app, 1)
    assert result["access_token"] == "cached"
    assert 1790 <= result["expires_in"] <= 1800
    assert CountedExpiry.parsed >= 1


@pytest.mark.parametrize("api", ["sync", "aio"])
def test_the_lane_reads_no_attribute_table_of_its_app(
    no_network: responses.RequestsMock, api: str
) -> None:
    app = client_app(api, cache_holding(at("cached")))
    hits(api, app, 3)
    assert "_hits" not in vars(app)  # slots of the app object
    assert "_identitylib_token_totals" not in vars(app)
    assert app.get_token_totals().tokens_from_cache == 3


# ------------------------------------------------ a rotating app-token hit's reads


class CountedReads(dict):  # type: ignore[type-arg]
    """The exact-request index's table of request keys, counting the lookups in it."""

    reads = 0

    def get(self, key: Any, default: Any = None) -> Any:
        CountedReads.reads += 1
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        CountedReads.reads += 1
        return super().__getitem__(key)


class CountedTotals(Totals):
    """An app's totals, counting the hits counted in them."""

    __slots__ = ("added",)

    def __init__(self) -> None:
        super().__init__()
        self.added = 0

    def add_cached(self, nanoseconds: int) -> None:
        self.added += 1
        super().add_cached(nanoseconds)


def tenant_apps(api: str, cache: SerializableTokenCache, tenants: int) -> list[Any]:
    module: Any = aio if api == "aio" else __import__("identitylib")
    return [
        module.ConfidentialClientApplication(
            "cid-0000", "secret", authority=f"https://{ENV}/{tenant_of(i)}", token_cache=cache
        )
        for i in range(tenants)
    ]


def rotate(api: str, apps: list[Any], picks: list[int]) -> list[str]:
    if api == "aio":

        async def acquire() -> list[str]:
            return [
                (await apps[i].acquire_token_for_client([SCOPE]))["access_token"] for i in picks
            ]

        return asyncio.run(acquire())
    return [apps[i].acquire_token_for_client([SCOPE])["access_token"] for i in picks]


@pytest.mark.parametrize("api", ["sync", "aio"])
def test_a_rotating_app_hit_reads_its_shelf_not_the_request_table(
    no_network: responses.RequestsMock, api: str
) -> None:
    """Each app holds its app shelf (its app-token requests' part of the exact-request
    index, kept in step by the index): a hit looks its scopes up there, by the very scope
    text object the shelf is filed under, and builds no request key and reads no key of
    the index's table of all requests, where a stored key is another object to compare."""
    cache = SerializableTokenCache()
    tokens = [at(f"t{i}", realm=tenant_of(i)) for i in range(20)]
    cache.deserialize(json.dumps({"AccessToken": {key_of(e): e for e in tokens}}))
    apps = tenant_apps(api, cache, 20)
    assert rotate(api, apps, list(range(20)) * 2) == [f"t{i}" for i in range(20)] * 2
    exact = cache._store.exact_index
    assert exact is not None
    exact._keys = CountedReads(exact._keys)
    CountedReads.reads = 0
    picks = [7, 3, 19, 0, 3, 11]
    assert rotate(api, apps, picks) == [f"t{i}" for i in picks]
    assert CountedReads.reads == 0
    shelf = apps[7]._hits._app_shelf
    assert list(shelf) == [SCOPE]
    assert next(iter(shelf)) is scope_text([SCOPE], user_flow=False)
    assert len(no_network.calls) == 0


@pytest.mark.parametrize("api", ["sync", "aio"])
def test_a_lane_hit_counts_itself_in_its_app_object(
    no_network: responses.RequestsMock, api: str
) -> None:
    """The calling thread's lane hits are counted in slots of the app object: a hit reads
    no totals object (other threads count theirs in the totals' rows)."""
    app = client_app(api, cache_holding(at("cached")))
    totals = CountedTotals()
    app._identitylib_token_totals = totals
    results = hits(api, app, 4)
    assert [r["access_token"] for r in results] == ["cached"] * 4
    assert totals.added == 0
    worker = threading.Thread(target=lambda: hits(api, app, 1))
    worker.start()
    worker.join(timeout=60)
    counted = app.get_token_totals()
    assert counted.tokens_from_cache == 5
    assert counted.total_ms > 0
    assert totals.added == 1
