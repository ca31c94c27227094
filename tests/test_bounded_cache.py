"""TokenCache(max_entries=..., max_bytes=...): what is evicted, in which order, and when."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import responses

from identitylib import ConfidentialClientApplication, SerializableTokenCache, TokenCache
from identitylib._cache._bounded import CacheBound, entry_size
from identitylib._cache._index import build_indices
from tests.cache._builders import HOST, at_query, client_credentials_event, user_event
from tests.cache.test_consistency import snapshot

from .conftest import add_discovery

NOW = int(time.time())  # Tokens written "now" are valid; the bound's clock is moved below.


@pytest.fixture(autouse=True)
def _now() -> None:
    global NOW
    NOW = int(time.time())


def add_app_token(cache: TokenCache, scope: str, *, expires_in: int = 3600, **kw: Any) -> None:
    event = client_credentials_event([scope], access_token=f"at-{scope}", expires_in=expires_in)
    cache.add(event, now=kw.get("now", NOW))


def app_scopes(cache: TokenCache) -> list[str]:
    """Targets of the cached app-only ATs, in storage order."""
    return [e["target"] for e in cache._cache.get("AccessToken", {}).values()]


def hit(cache: TokenCache, scope: str) -> bool:
    found = list(cache.search("AccessToken", target=[scope], query=at_query(None), now=NOW))
    return bool(found)


def bound_of(cache: TokenCache) -> CacheBound:
    bound = cache._store.bound
    assert bound is not None
    return bound


def total_entries(cache: TokenCache) -> int:
    return sum(len(s) for s in cache._cache.values() if isinstance(s, dict))


def assert_consistent(cache: TokenCache) -> None:
    assert snapshot(cache._store.indices) == snapshot(build_indices(cache._cache))
    bound = bound_of(cache)
    assert bound.entries == total_entries(cache)
    if bound.max_bytes is not None:
        expected = sum(
            entry_size(key, entry)
            for section in cache._cache.values()
            for key, entry in section.items()
        )
        assert bound.bytes == expected


# ------------------------------------------------------------------ unbounded


@pytest.mark.parametrize("cache_class", [TokenCache, SerializableTokenCache])
def test_unbounded_by_default(cache_class: type[TokenCache]) -> None:
    cache = cache_class()
    assert cache._store.bound is None
    for n in range(300):
        add_app_token(cache, f"s{n}")
    assert len(app_scopes(cache)) == 300
    assert hit(cache, "s0")


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        TokenCache(max_entries=0)
    with pytest.raises(ValueError, match="max_bytes"):
        TokenCache(max_bytes=-1)
    with pytest.raises(TypeError, match="max_entries"):
        TokenCache(max_entries="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_bytes"):
        TokenCache(max_bytes=True)
    with pytest.raises(TypeError):
        TokenCache(10)  # type: ignore[misc]  # keyword-only


# ------------------------------------------------------------------ eviction order


def test_least_recently_written_access_token_goes_first() -> None:
    cache = TokenCache(max_entries=4)  # 3 ATs + the AppMetadata entry
    for scope in ("a", "b", "c", "d", "e"):
        add_app_token(cache, scope)
    assert sorted(app_scopes(cache)) == ["c", "d", "e"]
    assert bound_of(cache).evicted == 2
    assert_consistent(cache)


def test_a_lookup_hit_makes_a_token_recent() -> None:
    cache = TokenCache(max_entries=4)
    for scope in ("a", "b", "c"):
        add_app_token(cache, scope)
    assert hit(cache, "a")  # a is now the most recently used; b the least
    add_app_token(cache, "d")
    assert sorted(app_scopes(cache)) == ["a", "c", "d"]
    assert hit(cache, "c")
    add_app_token(cache, "e")
    assert sorted(app_scopes(cache)) == ["c", "d", "e"]  # a was used before c and d
    assert_consistent(cache)


def test_an_exact_key_hit_counts_as_a_use() -> None:
    cache = TokenCache(max_entries=4)
    for scope in ("a", "b", "c"):
        add_app_token(cache, scope)
    # target + full query: the exact-key path of search()
    found = list(cache.search("AccessToken", target=["a"], query=at_query(None), now=NOW))
    assert [e["target"] for e in found] == ["a"]
    add_app_token(cache, "d")
    assert "a" in app_scopes(cache)
    assert "b" not in app_scopes(cache)


def test_rewriting_a_token_makes_it_recent() -> None:
    cache = TokenCache(max_entries=4)
    for scope in ("a", "b", "c"):
        add_app_token(cache, scope)
    add_app_token(cache, "a")  # refreshed
    add_app_token(cache, "d")
    assert sorted(app_scopes(cache)) == ["a", "c", "d"]


def test_expired_tokens_go_before_recent_ones() -> None:
    cache = TokenCache(max_entries=4)
    add_app_token(cache, "long1", expires_in=7200)
    add_app_token(cache, "short", expires_in=600)
    add_app_token(cache, "long2", expires_in=7200)
    bound = bound_of(cache)
    bound.clock = lambda: NOW + 1200  # "short" expired 10 minutes ago
    assert hit(cache, "long1")
    add_app_token(cache, "new", expires_in=7200)
    # LRU alone would evict long2 (least recently used); the expired one goes instead.
    assert sorted(app_scopes(cache)) == ["long1", "long2", "new"]
    assert_consistent(cache)


def test_soonest_expired_goes_first() -> None:
    cache = TokenCache(max_entries=4)
    add_app_token(cache, "x", expires_in=1000)
    add_app_token(cache, "y", expires_in=500)
    add_app_token(cache, "z", expires_in=9000)
    bound_of(cache).clock = lambda: NOW + 2000  # x and y expired; y first
    add_app_token(cache, "w", expires_in=9000)
    assert sorted(app_scopes(cache)) == ["w", "x", "z"]
    add_app_token(cache, "v", expires_in=9000)
    assert sorted(app_scopes(cache)) == ["v", "w", "z"]


def test_refresh_tokens_and_accounts_stay_while_access_tokens_can_go() -> None:
    cache = TokenCache(max_entries=8)
    cache.add(user_event(), now=NOW)  # AT, Account, IdToken, RT, AppMetadata
    for n in range(20):
        add_app_token(cache, f"s{n}")
    assert len(cache._cache["RefreshToken"]) == 1
    assert len(cache._cache["Account"]) == 1
    assert len(cache._cache["IdToken"]) == 1
    # 8 entries: 4 user-owned/app entries + 4 app-only ATs, the most recent ones
    assert sorted(app_scopes(cache)) == ["s16", "s17", "s18", "s19"]
    assert total_entries(cache) == 8
    assert_consistent(cache)


def test_when_only_accounts_remain_the_least_recent_account_goes_whole() -> None:
    cache = TokenCache(max_entries=5)
    cache.add(user_event(uid="alice"), now=NOW)
    cache.add(user_event(uid="bob", username="bob@contoso.com"), now=NOW)
    homes = {
        e["home_account_id"]
        for kind in ("RefreshToken", "IdToken", "Account")
        for e in cache._cache[kind].values()
    }
    assert homes == {"bob.tid"}  # alice's RT, ID token and account left together
    assert len(cache._cache["RefreshToken"]) == 1
    assert len(cache._cache["Account"]) == 1
    assert total_entries(cache) <= 5
    assert_consistent(cache)


def test_the_entry_being_written_is_never_its_own_victim() -> None:
    cache = TokenCache(max_bytes=300)
    event = client_credentials_event(["big"], access_token="x" * 1000)
    cache.add(event, now=NOW)
    # Over the bound with nothing else to evict: the new token stays, usable.
    assert hit(cache, "big")
    add_app_token(cache, "small")
    assert "big" not in app_scopes(cache)
    assert_consistent(cache)


def test_one_response_never_evicts_its_own_entries() -> None:
    cache = TokenCache(max_entries=1)
    cache.add(user_event(), now=NOW)
    # AT, Account, IdToken, RT, AppMetadata: all kept, over the bound until the next write
    assert total_entries(cache) == 5
    assert hit(cache, "User.Read") is False  # a user token: not an app-only hit
    found = cache.search("AccessToken", target=["User.Read"], query=at_query(), now=NOW)
    assert [e["secret"] for e in found] == ["user-at"]
    add_app_token(cache, "a")
    assert app_scopes(cache) == ["a"]  # the user's AT went; then the account as a whole
    assert "RefreshToken" not in cache._cache or not cache._cache["RefreshToken"]
    assert_consistent(cache)


# ------------------------------------------------------------------ max_bytes


def test_max_bytes_is_respected() -> None:
    limit = 4000
    cache = SerializableTokenCache(max_bytes=limit)
    for n in range(50):
        cache.add(client_credentials_event([f"s{n}"], access_token="t" * 200 + str(n)), now=NOW)
        assert bound_of(cache).bytes <= limit
    assert_consistent(cache)
    kept = app_scopes(cache)
    assert 5 < len(kept) < 50
    assert kept == [f"s{n}" for n in range(50 - len(kept), 50)]  # the most recent
    # The estimate tracks the serialized size (framing adds a few bytes per section).
    serialized = len(cache.serialize().encode())
    assert abs(serialized - bound_of(cache).bytes) < 100


def test_both_limits_together() -> None:
    cache = TokenCache(max_entries=10, max_bytes=100_000)
    for n in range(30):
        add_app_token(cache, f"s{n}")
    assert total_entries(cache) == 10
    assert_consistent(cache)


# ------------------------------------------------------------------ other paths


def test_removals_and_direct_edits_keep_the_accounting() -> None:
    cache = SerializableTokenCache(max_entries=6, max_bytes=50_000)
    for scope in ("a", "b", "c"):
        add_app_token(cache, scope)
    entry = next(iter(cache._cache["AccessToken"].values()))
    cache.remove_at(entry)
    assert_consistent(cache)
    # An app editing _cache directly: the store notices, re-indexes and re-counts.
    state = json.loads(cache.serialize())
    cache._cache = state
    list(cache.search("AccessToken", query=at_query(None), now=NOW))
    assert_consistent(cache)


def test_deserialize_trims_to_the_bound() -> None:
    big = SerializableTokenCache()
    for n in range(20):
        add_app_token(big, f"s{n}")
    small = SerializableTokenCache(max_entries=5)
    small.deserialize(big.serialize())
    assert total_entries(small) == 5
    assert sorted(app_scopes(small)) == ["s16", "s17", "s18", "s19"]  # the last written
    assert_consistent(small)


def test_expired_tokens_found_by_search_leave_the_bound_too() -> None:
    cache = TokenCache(max_entries=50)
    add_app_token(cache, "old", expires_in=60, now=NOW - 3600)
    add_app_token(cache, "fresh")
    list(cache.search("AccessToken", query=at_query(None), now=NOW))  # purges "old"
    assert app_scopes(cache) == ["fresh"]
    assert_consistent(cache)


def test_through_an_application(http: responses.RequestsMock) -> None:
    tenant = "11111111-2222-3333-4444-555555555555"
    token_endpoint = add_discovery(http, tenant=tenant)
    for n in range(1, 5):  # answered in turn
        http.post(token_endpoint, json={"access_token": f"at{n}", "expires_in": 3600})
    cache = TokenCache(max_entries=3)
    app = ConfidentialClientApplication(
        "cid", "secret", authority=f"https://login.microsoftonline.com/{tenant}", token_cache=cache
    )
    for scope in ("api://a/.default", "api://b/.default", "api://c/.default"):
        assert app.acquire_token_for_client([scope])["token_source"] == "identity_provider"
    assert app.acquire_token_for_client(["api://c/.default"])["token_source"] == "cache"
    # a was evicted (only 2 ATs fit beside the AppMetadata entry): asked again
    assert app.acquire_token_for_client(["api://a/.default"])["token_source"] == (
        "identity_provider"
    )
    assert total_entries(cache) == 3
    assert all(e["environment"] == HOST for e in cache._cache["AccessToken"].values())
    assert [c.request.method for c in http.calls].count("POST") == 4
