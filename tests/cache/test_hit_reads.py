"""What a rotating-key cache hit reads (issue #18, workload 12): counts, not time.

A hit touches objects spread over the heap (its app, the index, the token), and at
10,000 apps or tokens each one no longer in the CPU's caches shows in its time. These tests
pin the cuts: the lane's objects sit in slots of the app object (no attribute table read),
and the token is read as the exact-request index filed it (its expiry an int, not a string
parsed on every hit). Both APIs take the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from identitylib import SerializableTokenCache

from .test_exact_hits import SCOPE, at, key_of
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
    app = client_app(api, cache_holding(entry))
    hits(api, app, 2)  # the first lookup files the token (its expiry parsed once)
    CountedExpiry.parsed = 0
    results = hits(api, app, 5)
    assert [r["access_token"] for r in results] == ["cached"] * 5
    assert {r["token_source"] for r in results} == {"cache"}
    assert 3590 <= results[-1]["expires_in"] <= 3600
    assert CountedExpiry.parsed == 0
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
