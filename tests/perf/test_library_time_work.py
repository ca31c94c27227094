"""Library time per token request (bench workload 15): work a miss no longer does, counted
(never timed), in the blocking and the asyncio API.

- The cache lane's lookup is not made again by the method's builder (one exact-request
  lookup per call, not two).
- ``add()`` of a plain in-memory cache stores the entries it made as they are: no
  ``modify`` per entry (no copy, no second key).
- An on-behalf-of call with an assertion no cached token is bound to is decided by the
  indices: no access-token search, no refresh-token lookup.
- A miss of the exact-request index in a partition it has filed is settled without the
  locked lookup (as a hit is).
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

import identitylib
from identitylib._cache._token_cache import TokenCache
from identitylib._flows._hit_memo import HitMemo
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
)

from ._apps import APIS, GRAPH, call_on, daemon, public_client, sign_in, user_assertion, web_api


def _daemon(api: str, emulator: Emulator) -> Any:
    return daemon(emulator, api, identitylib.SerializableTokenCache())()


def _counting(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str, counts: dict[str, int]
) -> None:
    """Count the calls of ``owner.name`` in ``counts[name]`` (the method still runs)."""
    real: Callable[..., Any] = getattr(owner, name)
    counts[name] = 0

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


# --------------------------------------------------------- the lane's lookup, made once


def _client_credentials_miss(emulator: Emulator, api: str) -> tuple[Any, str, tuple[Any, ...]]:
    """An app token for Graph, after one for the demo API (discovery done)."""
    app = _daemon(api, emulator)
    first = call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    assert first["token_source"] == "identity_provider", first
    return app, "acquire_token_for_client", (["https://graph.microsoft.com/.default"],)


def _silent_miss(emulator: Emulator, api: str) -> tuple[Any, str, tuple[Any, ...]]:
    """Signed-in Alice's token for Graph: none yet, so the refresh token is redeemed."""
    cache = identitylib.SerializableTokenCache()
    account = sign_in(emulator, "sync", cache)
    return public_client(emulator, api, cache)(), "acquire_token_silent", (GRAPH, account)


#: A miss, and the lane's lookup it makes: case name -> (the ``HitMemo`` method that looks
#: the request up, what makes the app and names the call).
MISSES: dict[str, tuple[str, Callable[[Emulator, str], tuple[Any, str, tuple[Any, ...]]]]] = {
    "client-credentials": ("app_token", _client_credentials_miss),
    "silent": ("account_token", _silent_miss),
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", MISSES)
def test_a_miss_looks_its_request_up_once(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, case: str, api: str
) -> None:
    lookup, prepare = MISSES[case]
    app, method, args = prepare(emulator, api)
    counts: dict[str, int] = {}
    _counting(monkeypatch, HitMemo, lookup, counts)
    result = call_on(api, app, method, *args)
    assert result is not None
    assert result["token_source"] == "identity_provider", result
    assert counts[lookup] == 1  # the lane's; the builder does not ask again
    again = call_on(api, app, method, *args)
    assert again["token_source"] == "cache"
    assert again["access_token"] == result["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_without_the_lane_the_builder_still_finds_the_hit(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """A call the lane is not asked about (one made inside another public call: the method
    runs at once) is served by the builder's own lookup: the builder skips it only after
    the lane's miss."""
    from identitylib._transport._observe import HTTP_OBSERVER

    app = _daemon(api, emulator)
    result = call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    counts: dict[str, int] = {}
    _counting(monkeypatch, HitMemo, "app_token", counts)
    inside = HTTP_OBSERVER.set(object())  # type: ignore[arg-type]  # (as an outer call)
    try:
        again = call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    finally:
        HTTP_OBSERVER.reset(inside)
    assert again["token_source"] == "cache"
    assert again["access_token"] == result["access_token"]
    assert counts["app_token"] == 1  # the builder's (no lane was asked)


# ------------------------------------------------------- the cache write, in one pass


@pytest.mark.parametrize("api", APIS)
def test_a_token_response_is_stored_without_modify(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """``add()`` of identitylib's own in-memory cache files the entries it made as they
    are (no ``modify`` per entry, no copy), and still marks the cache changed."""
    from identitylib._cache import _token_cache

    app = _daemon(api, emulator)
    counts: dict[str, int] = {}
    _counting(monkeypatch, TokenCache, "modify", counts)
    _counting(monkeypatch, identitylib.SerializableTokenCache, "modify", counts)
    spies = {TokenCache.modify, identitylib.SerializableTokenCache.modify}
    monkeypatch.setattr(_token_cache, "PLAIN_MODIFY", _token_cache.PLAIN_MODIFY | spies)
    result = call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    assert result["token_source"] == "identity_provider", result
    assert counts == {"modify": 0}
    cache = app.token_cache
    assert cache.has_state_changed
    (at,) = cache.search("AccessToken", query={"client_id": DEMO_DAEMON_ID})
    assert at["secret"] == result["access_token"]
    assert len(list(cache.search("AppMetadata"))) == 1


def test_a_subclass_modify_is_still_called_for_every_entry(emulator: Emulator) -> None:
    """A cache whose ``modify`` is its own gets every write through it, as msal does."""
    seen: list[str] = []

    class Watched(identitylib.TokenCache):
        def modify(self, credential_type: str, old_entry: Any, new: Any = None) -> None:
            seen.append(credential_type)
            super().modify(credential_type, old_entry, new)

    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority(), token_cache=Watched()
    )
    result = app.acquire_token_for_client([f"{DEMO_API_URI}/.default"])
    assert result["token_source"] == "identity_provider", result
    assert seen == ["AccessToken", "AppMetadata"]


# ------------------------------------------------------ a new assertion: index probes


@pytest.mark.parametrize("api", APIS)
def test_an_assertion_never_seen_is_a_miss_without_a_lookup(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    assertion = user_assertion(emulator)
    cache = identitylib.TokenCache()
    app = web_api(emulator, api, cache)()
    counts: dict[str, int] = {}
    for name in ("search", "_refresh_tokens", "_may_match_access_token"):
        _counting(monkeypatch, TokenCache, name, counts)
    result = call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert result["token_source"] == "identity_provider", result
    assert counts == {"search": 0, "_refresh_tokens": 0, "_may_match_access_token": 0}
    again = call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert again["token_source"] == "cache"
    assert again["access_token"] == result["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_an_assertion_with_only_its_refresh_token_cached_looks_it_up(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """The probes answer "maybe" when a refresh token is bound to the assertion (its access
    token gone): the flow looks that refresh token up (and redeems it)."""
    assertion = user_assertion(emulator)
    cache = identitylib.TokenCache()
    app = web_api(emulator, api, cache)()
    first = call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert first["token_source"] == "identity_provider", first
    for at in list(cache.search("AccessToken", query={"client_id": DEMO_API_ID})):
        cache.remove_at(at)
    counts: dict[str, int] = {}
    _counting(monkeypatch, TokenCache, "_refresh_tokens", counts)
    again = call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert again["token_source"] == "identity_provider", again
    assert counts["_refresh_tokens"] == 1


# ------------------------------------------------ a miss in a filed partition: no lock


def test_a_miss_in_a_filed_partition_is_settled_without_the_locked_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the request's partition (client, realm) is filed, the exact-request index
    answers a miss from its reads alone, as it answers a hit: not the locked lookup."""
    from identitylib._cache import _exact, _own
    from identitylib._cache._store import IndexedSections

    env, client, realm = "login.microsoftonline.com", "client-id", "tenant-a"
    cache = identitylib.TokenCache()
    cache.add(
        {
            "client_id": client,
            "scope": ["api://a/.default"],
            "token_endpoint": f"https://{env}/{realm}/oauth2/v2.0/token",
            "grant_type": "client_credentials",
            "response": {"access_token": "at", "expires_in": 3600, "token_type": "Bearer"},
        }
    )
    hit = _exact.request_key(env, client, realm, None, None, ["api://a/.default"])
    miss = _exact.request_key(env, client, realm, None, None, ["api://b/.default"])
    other = _exact.request_key(env, client, "tenant-b", None, None, ["api://a/.default"])
    found = _own.exact_request_hit(cache, hit)  # (builds the index, files the partition)
    assert found is not None
    assert found[1]["secret"] == "at"
    counts: dict[str, int] = {}
    _counting(monkeypatch, IndexedSections, "exact_access_token", counts)
    assert _own.exact_request_hit(cache, miss) is None
    assert counts["exact_access_token"] == 0
    assert _own.exact_request_hit(cache, other) is None  # another partition: no token there
    found = _own.exact_request_hit(cache, hit)
    assert found is not None
    assert found[1]["secret"] == "at"
    assert counts["exact_access_token"] <= 1


def test_a_modify_assigned_to_the_instance_is_still_called(emulator: Emulator) -> None:
    seen: list[str] = []
    cache = identitylib.SerializableTokenCache()
    real = cache.modify

    def watched(credential_type: str, old_entry: Any, new: Any = None) -> None:
        seen.append(credential_type)
        real(credential_type, old_entry, new)

    cache.modify = watched  # type: ignore[method-assign]
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority(), token_cache=cache
    )
    result = app.acquire_token_for_client([f"{DEMO_API_URI}/.default"])
    assert result["token_source"] == "identity_provider", result
    assert seen == ["AccessToken", "AppMetadata"]
