"""The on-behalf-of miss (library time per token request, bench workload 15): its probes,
counted (never timed), in the blocking and the asyncio API.

- An assertion no cached token is bound to is a miss after one probe of each index
  (the access-token index's assertion owners, the refresh-token index by
  ``user_assertion_hash``): no index query made, the requested scopes not even read.
- An on-behalf-of token renewed under a new assertion (the same key: the user's token
  for the same scopes) is filed from one reading of its fields: its old filing is not
  read again, and its request keys in the exact-request index are the ones it had, the
  assertion swapped, not made anew.
- The cache keys of a token response are made without a keyword call or a joined list,
  and an index of one string field files without a component call; the reserved scopes
  are looked for without a generator or a sort; a call without claims merges none;
  base64url text is made without the ``base64`` module's Python layers.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import pytest

import identitylib
from identitylib._cache import _exact, _filing, _index
from identitylib.emulator import Emulator

from ._apps import APIS, BOB, GRAPH, call_on, served_once, user_assertion, web_api
from ._counting import python_calls


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, into: list[str]) -> None:
    """Count the calls of ``owner.name`` (a module function: wherever the cache modules
    bound it; a method: on its class) in ``into``."""
    real: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        into.append(name)
        return real(*args, **kwargs)

    if isinstance(owner, type):
        monkeypatch.setattr(owner, name, counted)
        return
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("identitylib.") and getattr(module, name, None) is real:
            monkeypatch.setattr(module, name, counted)


@pytest.mark.parametrize("api", APIS)
def test_a_new_assertion_is_a_miss_after_one_probe_per_index(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    _cache, app, first, second, before = served_once(emulator, api, BOB)
    asked: list[str] = []
    _count(monkeypatch, _index.SectionIndex, "candidates", asked)
    _count(monkeypatch, _index.AccessTokenIndex, "may_match", asked)
    _count(monkeypatch, sys.modules["identitylib._cache._query"], "requested_scopes", asked)
    result = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert result["token_source"] == "identity_provider", result
    assert asked == []
    # Each assertion still finds its own token, and only its own.
    for assertion, expected in ((first, before), (second, result)):
        again = call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH)
        assert again["token_source"] == "cache", again
        assert again["access_token"] == expected["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_a_token_renewed_under_a_new_assertion_is_filed_from_one_reading(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    cache, app, first, second, _before = served_once(emulator, api)
    assert first != second
    hit = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)  # (the exact index)
    assert hit["token_source"] == "cache", hit
    assert cache._store.exact_index is not None
    read: list[str] = []
    _count(monkeypatch, _filing, "filing_of", read)
    _count(monkeypatch, _exact, "requests_of", read)
    _count(monkeypatch, _exact, "request_keys_of", read)
    renewed = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert renewed["token_source"] == "identity_provider", renewed
    # The new entry's filing is its writer's (made from the values it made the entry of,
    # see test_cache_write.py): no field read back; its request keys not made anew.
    assert read == []
    again = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == renewed["access_token"]
    old = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)
    assert old["token_source"] == "identity_provider", old  # its token was replaced


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_makes_its_keys_and_checks_its_scopes_in_line(
    emulator: Emulator, api: str
) -> None:
    """The keys of a token response's access token, refresh token and app metadata are
    made without a helper that joins a list (three per response), and the scopes of a
    call are found free of reserved ones without a generator or a sort (once per call:
    the builder's check, which the flow's decoration trusts)."""
    cache, app, _first, second, _before = served_once(emulator, api)
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH))
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    # (account, ID token, RT; the AT's from the values it was made of, and the app
    # metadata, stored by the call before, is found unchanged without one)
    assert calls[("_keys.py", "key_of")] == 3
    assert calls[("_keys.py", "access_token_key_from")] == 1
    in_keys = {name for (module, name) in calls if module == "_keys.py"}
    assert in_keys.isdisjoint({"_join", "<listcomp>", "refresh_token_key", "id_token_key"})
    assert calls[("_scopes.py", "reject_reserved")] == 1
    assert calls[("_scopes.py", "<genexpr>")] == 0
    (rt,) = cache.search("RefreshToken", query={"user_assertion_hash": cache_hash(second)})
    assert rt["secret"] == results[0]["refresh_token"]
    (metadata,) = cache.search("AppMetadata")
    assert metadata["client_id"] == app.client_id


def cache_hash(assertion: str) -> str:
    """The ``user_assertion_hash`` tokens obtained with ``assertion`` are cached under."""
    from identitylib._cache import assertion_hash

    return assertion_hash(assertion)


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_merges_no_claims_and_refiles_its_refresh_token_in_line(
    emulator: Emulator, api: str
) -> None:
    """A call with no claims challenge, no forwarded claims and an app without client
    capabilities merges nothing (the flow's request asks; the builder, with nothing that
    could fail before I/O, does not);
    the refresh token renewed under the new assertion is refiled in its index by the
    assertion hash without a component call (an index of one string field)."""
    cache, app, first, second, _before = served_once(emulator, api)
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH))
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    assert calls[("_state.py", "claims")] == 1  # (the call was counted)
    assert calls[("_claims.py", "merge_claims")] == 0
    assert calls[("_index.py", "refile_fields")] >= 1  # the refresh token's index
    assert calls[("_query.py", "components")] == 0
    (rt,) = cache.search("RefreshToken", query={"user_assertion_hash": cache_hash(second)})
    assert rt["secret"] == results[0]["refresh_token"]
    old = {"user_assertion_hash": cache_hash(first)}
    assert list(cache.search("RefreshToken", query=old)) == []


@pytest.mark.parametrize("api", APIS)
def test_claims_are_still_merged_when_there_are_some(emulator: Emulator, api: str) -> None:
    """The shortcut is for calls without claims: a challenge still reaches the request."""
    assertion = user_assertion(emulator)
    app = web_api(emulator, api, identitylib.TokenCache())()
    challenge = '{"access_token": {"nbf": {"essential": true, "value": "1"}}}'
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(
            call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH, challenge)
        )
    )
    assert "access_token" in results[0], results[0]
    assert calls[("_claims.py", "merge_claims")] >= 1


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_encodes_base64url_without_the_base64_module(
    emulator: Emulator, api: str
) -> None:
    """The assertion's hash (and any other base64url text the call makes) is encoded
    with binascii directly: no call of ``base64``'s two Python layers per encoding."""
    _, app, _, second, _ = served_once(emulator, api)
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH))
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    assert calls[("_access.py", "assertion_hash")] >= 1  # (the calls were counted)
    assert calls[("base64.py", "urlsafe_b64encode")] == 0
    assert calls[("base64.py", "b64encode")] == 0


def test_base64url_text_is_base64s() -> None:
    import base64
    import random

    from identitylib._protocol._jwt import b64url_encode

    chosen = random.Random(5)
    for size in range(70):
        raw = bytes(chosen.randrange(256) for _ in range(size))
        assert b64url_encode(raw) == base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
