"""An app token's cache miss (``acquire_token_for_client`` for a scope no token grants):
what its cache reads run, counted (never timed), in the blocking and the asyncio API.

- The cache lane's exact-request read settles a miss in one read of the index (whether
  a token is filed under the request, and whether its partition is filed).
- The flow's own question (in which of the authority's environments could a token match)
  is asked of the access-token index without the cache lock while the section is as
  its last write left it; a section edited outside the cache API is synced first, under
  the lock, as before.
- The requested scopes are lower-cased without a generator; the index reads the
  client's part of a string without a helper; the response of an app's own
  ``http_client`` is normalised without a comprehension's frame.
"""

from __future__ import annotations

import contextvars
from collections import Counter
from typing import Any

import pytest

import identitylib
from identitylib._cache._query import requested_scopes
from identitylib._transport._sync import normalise_response
from identitylib.emulator import Emulator

from ._apps import APIS, APP_SCOPES, call_on, daemon
from ._counting import builtin_calls, python_calls

Calls = Counter[tuple[str, str]]


def _counted_miss(emulator: Emulator, api: str, within: str) -> tuple[Calls, Any]:
    """A cc miss of an app whose authority is known and whose cache's indices are built
    (its token requested twice, removed after each), the calls made inside ``within``
    counted; and the app."""

    def miss() -> tuple[Calls, Any]:
        app = daemon(emulator, api, identitylib.TokenCache())()
        for _ in range(2):
            assert "access_token" in call_on(api, app, "acquire_token_for_client", APP_SCOPES)
            call_on(api, app, "remove_tokens_for_client")
        results: list[Any] = []
        calls = python_calls(
            lambda: results.append(call_on(api, app, "acquire_token_for_client", APP_SCOPES)),
            qualified=True,
            within=within,
        )
        assert results[0]["token_source"] == "identity_provider", results[0]
        return calls, app

    return contextvars.Context().run(miss)


@pytest.mark.parametrize("api", APIS)
def test_a_lane_miss_is_settled_in_one_read_of_the_exact_index(
    emulator: Emulator, api: str
) -> None:
    calls, _ = _counted_miss(emulator, api, "TokenCache._filed_request_hit")
    assert calls == Counter(
        {
            ("_token_cache.py", "TokenCache._filed_request_hit"): 1,
            ("_store.py", "IndexedSections.settled_access_token"): 1,
            ("_store.py", "IndexedSections.settled_exact"): 1,
            ("_exact.py", "ExactRequestIndex.settled_hit"): 1,
        }
    ), calls


@pytest.mark.parametrize("api", APIS)
def test_the_flows_lookup_asks_a_settled_index_without_the_lock(
    emulator: Emulator, api: str
) -> None:
    calls, _ = _counted_miss(emulator, api, "environments_with_access_tokens")
    assert calls["_store.py", "IndexedSections.settled_environments"] == 1
    assert calls["_token_cache.py", "TokenCache._synced"] == 0
    assert calls["_store.py", "IndexedSections.environments_with_access_tokens"] == 0
    assert calls["_query.py", "requested_scopes.<locals>.<genexpr>"] == 0
    assert calls["_query.py", "components"] == 0


@pytest.mark.parametrize("api", APIS)
def test_the_flows_environment_question_reads_the_index_without_a_cache_method(
    emulator: Emulator, api: str
) -> None:
    """The flow's question (which environments could hold a matching token) is read from
    the settled index by the cache's interface function itself: no method of the cache in
    between, four frames below it for the usual miss (the request's list of scopes handed
    to the index as it is: no ``requested_scopes`` set made for it)."""
    calls, _ = _counted_miss(emulator, api, "environments_with_access_tokens")
    assert calls["_own.py", "environments_with_access_tokens"] == 1
    assert not [name for name in calls if name[0] == "_token_cache.py"], calls
    assert calls["_query.py", "requested_scopes"] == 0
    assert sum(calls.values()) <= 5, calls


@pytest.mark.parametrize("api", APIS)
def test_the_index_answers_which_environments_may_match_in_one_frame(
    emulator: Emulator, api: str
) -> None:
    """The access-token index checks each of the authority's environments (the app's
    tokens there, the requested scopes' counts) in the frame of its one question: no
    helper per environment."""
    cache = identitylib.TokenCache()
    app = daemon(emulator, api, cache)()
    call_on(api, app, "acquire_token_for_client", APP_SCOPES)
    ((entry,),) = [list(cache.search("AccessToken"))]  # (the app's token: another scope now)
    cache.modify("AccessToken", entry, {"target": "api://another/.default"})
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_for_client", APP_SCOPES)),
        qualified=True,
        within="environments_with_access_tokens",
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    index_calls = {name: count for name, count in calls.items() if name[0] == "_index.py"}
    assert index_calls == {("_index.py", "AccessTokenIndex.environments_that_may_match"): 1}


@pytest.mark.parametrize("api", APIS)
def test_the_index_reads_the_authoritys_environments_folded_once(
    emulator: Emulator, api: str
) -> None:
    """The index asks for the authority's environments as it files them (lower-cased)
    in one C call of a memo (``folded_environments``): no ``str.lower`` per environment
    and lookup, no new string to hash."""

    def miss() -> Counter[tuple[str, str]]:
        app = daemon(emulator, api, identitylib.TokenCache())()
        for _ in range(2):
            assert "access_token" in call_on(api, app, "acquire_token_for_client", APP_SCOPES)
            call_on(api, app, "remove_tokens_for_client")
        return builtin_calls(lambda: call_on(api, app, "acquire_token_for_client", APP_SCOPES))

    calls = contextvars.Context().run(miss)
    assert calls["_index.py", "str.lower"] == 0, calls


def _flows_lookup(api: str, app: Any, scopes: list[str]) -> tuple[Calls, Any]:
    """The calls made inside the flow's lookup (``environments_with_access_tokens``) of
    an app-token call for ``scopes``, and the call's result."""
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_for_client", scopes)),
        qualified=True,
        within="environments_with_access_tokens",
    )
    return calls, results[0]


class _OwnCache(identitylib.TokenCache):
    """A subclass: no cache lane reads it (the flow's lookup is the only one)."""


@pytest.mark.parametrize("api", APIS)
def test_a_token_put_into_the_section_directly_is_found_by_the_flows_lookup(
    emulator: Emulator, api: str
) -> None:
    """A token put into the cache's dict outside its API (the section resized): the
    index is not read as it is, the section is synced under the lock, and the token,
    which grants more scopes than requested, is served."""
    cache = _OwnCache()
    call_on(api, daemon(emulator, api, cache)(), "acquire_token_for_client", APP_SCOPES)
    section = cache._cache["AccessToken"]
    ((key, entry),) = section.items()
    wanted = "api://directly-put/.default"
    section[key + "-put"] = {**entry, "target": f"{wanted} {entry['target']}", "secret": "put"}
    app = daemon(emulator, api, cache)()
    calls, result = _flows_lookup(api, app, [wanted])
    assert result["token_source"] == "cache", result
    assert result["access_token"] == "put"
    assert calls["_store.py", "IndexedSections.settled_environments"] == 1  # (unsettled:)
    assert calls["_token_cache.py", "TokenCache._synced"] == 1


@pytest.mark.parametrize("api", APIS)
def test_the_flows_lookup_compares_the_requested_scopes_case_insensitively(
    emulator: Emulator, api: str
) -> None:
    """The request's own scopes, read by the index as they are given (no set of them made
    first), are compared lower-cased: a token granting a scope asked in another case, and
    more scopes than asked, is found by the flow's lookup (a subclass: no cache lane)."""
    cache = _OwnCache()
    app = daemon(emulator, api, cache)()
    call_on(api, app, "acquire_token_for_client", APP_SCOPES)
    ((entry,),) = [list(cache.search("AccessToken"))]
    wanted = "API://Another/.default"
    cache.modify("AccessToken", entry, {"target": f"api://another/.default {entry['target']}"})
    calls, result = _flows_lookup(api, app, [wanted])
    assert result["token_source"] == "cache", result
    assert calls["_query.py", "requested_scopes"] == 0


def test_requested_scopes_are_lower_cased_without_a_generator() -> None:
    scopes = ["User.Read", "Mail.Send"]
    calls = python_calls(lambda: requested_scopes(scopes))
    assert calls["_query.py", "requested_scopes"] == 1
    assert calls["_query.py", "<genexpr>"] == 0
    assert requested_scopes(scopes) == frozenset({"user.read", "mail.send"})
    assert requested_scopes(("A", 3, "b")) == frozenset({"a", "b"})  # (strings only)
    assert requested_scopes(iter(["A", None])) == frozenset({"a"})
    assert requested_scopes(None) == frozenset()


class _Answer:
    """What an ``http_client`` of the app's own may return (a ``requests``-like response)."""

    status_code = 200
    text = "{}"
    headers = {"Content-Type": "application/json", "X-Ms-Request-Id": 7}


def test_a_response_of_an_apps_http_client_is_normalised_in_one_frame() -> None:
    calls = python_calls(lambda: normalise_response(_Answer()))
    assert calls["_sync.py", "<dictcomp>"] == 0
    assert calls["_sync.py", "normalise_response"] == 1
    response = normalise_response(_Answer())
    assert response.headers == {"content-type": "application/json", "x-ms-request-id": "7"}
    assert normalise_response(object()).headers == {}
