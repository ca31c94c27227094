"""The on-behalf-of miss outside the cache write (an assertion never seen: the assertion
is exchanged), counted (never timed), in the blocking and the asyncio API.

- The flow reads the authority's metadata once (its realm for the lookup, its token
  endpoint for the request), and shapes no cache-hit result when nothing was found.
- The builder hides the stripped assertion it hands on, and does not hide again the
  assertion the public method hid already: both show as ``'***'`` in its locals.
- A token response becomes the app's result and the cache event, and the grant's fields
  a form, without a comprehension (a frame each on Python 3.11).
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from identitylib._flows._shaping import cache_event, provider_result
from identitylib._log import Secret
from identitylib._protocol._request import grant_fields
from identitylib.emulator import Emulator

from ._apps import APIS, BOB, GRAPH, call_on, served_once
from ._counting import builtin_calls, python_calls

BUILDER = "ClientCalls.acquire_token_on_behalf_of"


def _new_assertion_miss(emulator: Emulator, api: str) -> tuple[Any, Any, str, dict[str, Any]]:
    """(cache, app, a new user's assertion, the Python calls of its first on-behalf-of
    call), after the app's first call for another user was served."""
    cache, app, _first, second, _before = served_once(emulator, api, BOB)
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)),
        qualified=True,
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    return cache, app, second, {"calls": calls, "result": results[0]}


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_reads_the_authority_metadata_once(
    emulator: Emulator, api: str
) -> None:
    _cache, app, second, miss = _new_assertion_miss(emulator, api)
    calls = miss["calls"]
    assert calls[("_authority.py", "Authority.known_metadata")] == 1
    assert calls[("_authority.py", "Authority.expected_realm")] == 0
    assert calls[("_shaping.py", "serve_cached")] == 0  # (nothing found: nothing to shape)
    again = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == miss["result"]["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_a_new_assertion_is_found_unbound_without_the_cache_lock(
    emulator: Emulator, api: str
) -> None:
    _cache, _app, _second, miss = _new_assertion_miss(emulator, api)
    calls = miss["calls"]
    assert calls[("_store.py", "IndexedSections.settled_assertion")] == 1
    assert calls[("_token_cache.py", "TokenCache._may_hold_assertion")] == 0
    assert calls[("_marked.py", "MarkedSections.sync")] == 0
    assert calls[("_index.py", "FieldIndex.folded")] == 0  # (the assertion's field: as it is)


@pytest.mark.parametrize("api", APIS)
def test_an_assertion_bound_to_a_refresh_token_alone_is_found_without_the_lock(
    emulator: Emulator, api: str
) -> None:
    cache, app, first, _second, before = served_once(emulator, api, BOB)
    for entry in list(cache.search("AccessToken")):
        cache.remove_at(entry)  # (the refresh token bound to ``first`` is left)
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)),
        qualified=True,
    )
    assert calls[("_store.py", "IndexedSections.settled_assertion")] == 1
    assert calls[("_token_cache.py", "TokenCache._may_hold_assertion")] == 0
    assert calls[("on_behalf_of.py", "_redeem_cached_refresh_token")] == 1
    assert results[0]["token_source"] == "identity_provider", results[0]
    assert results[0]["access_token"] != before["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_the_on_behalf_of_builder_hides_the_assertion_once(emulator: Emulator, api: str) -> None:
    _cache, app, first, _second, _before = served_once(emulator, api, BOB)
    new = f"  {_second} "  # (stripped by the builder)
    seen: dict[str, Any] = {}

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code.co_qualname == BUILDER:
            seen.update(frame.f_locals)

    sys.setprofile(profile)
    try:
        result = call_on(api, app, "acquire_token_on_behalf_of", new, GRAPH)
    finally:
        sys.setprofile(None)
    assert result["token_source"] == "identity_provider", result
    assert type(seen["user_assertion"]) is Secret
    assert type(seen["assertion"]) is Secret
    assert seen["assertion"] == _second
    calls = python_calls(
        lambda: call_on(api, app, "acquire_token_on_behalf_of", f"{first}\n", ["Mail.Read"]),
        qualified=True,
        within=BUILDER,
    )
    assert calls[("_log.py", "hide")] == 1


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_shapes_its_request_and_response_without_a_comprehension(
    emulator: Emulator, api: str
) -> None:
    _cache, _app, _second, miss = _new_assertion_miss(emulator, api)
    made = {
        (module, name)
        for (module, name) in miss["calls"]
        if module in ("_shaping.py", "_request.py") and name.endswith(("comp>", "<genexpr>"))
    }
    assert made == set()


def test_a_provider_result_drops_private_members_and_keeps_the_response() -> None:
    response = {"access_token": "at", "_internal": 1, "expires_in": 60, "refresh_in": 30}
    result = provider_result(response, 1000.0)
    assert result == {
        "access_token": "at",
        "expires_in": 60,
        "refresh_on": 1030,
        "token_source": "identity_provider",
    }
    assert response == {"access_token": "at", "_internal": 1, "expires_in": 60, "refresh_in": 30}


def test_a_cache_event_holds_the_plain_request_fields_only(emulator: Emulator) -> None:
    _cache, app, _first, _second, _before = served_once(emulator, "sync")
    state = app._core.state
    fields = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": "the-assertion",
        "Client_Secret": "the-secret",
        "scope": "User.Read openid",
        "requested_token_use": "on_behalf_of",
    }
    event = cache_event(state, GRAPH, "https://x/token", "g", {}, fields, {"k": 1})
    assert event["data"] == {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "scope": "User.Read openid",
        "requested_token_use": "on_behalf_of",
    }
    assert event["k"] == 1
    assert cache_event(state, GRAPH, "https://x/token", "g", {})["data"] == {}


def test_grant_fields_drop_empty_values_and_hide_the_credential() -> None:
    merged = grant_fields(
        None,
        {"grant_type": "g", "claims": None, "scope": "", "client_id": "c"},
        {"client_secret": "s", "client_id": ""},
    )
    assert merged == {"grant_type": "g", "client_secret": "s"}
    assert type(merged["client_secret"]) is Secret


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_reads_the_apps_answer_on_access_hooks(
    emulator: Emulator, api: str
) -> None:
    """Whether the cache has access hooks is the app state's answer, asked by its first
    call (``AppState.cache_has_hooks``): a later miss asks the cache nothing."""
    _cache, _app, _second, miss = _new_assertion_miss(emulator, api)
    calls = miss["calls"]
    assert calls[("_state.py", "AppState.cache_has_hooks")] == 1
    assert calls[("_own.py", "has_access_hooks")] == 0
    assert calls[("_access_hooks.py", "has_access_hooks")] == 0


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_call_without_claims_makes_its_claims_once(
    emulator: Emulator, api: str
) -> None:
    """Neither a challenge nor forwarded claims: nothing the builder could refuse before
    I/O (the app's capabilities were checked when it was made), the flow's claims alone."""
    _cache, _app, _second, miss = _new_assertion_miss(emulator, api)
    assert miss["calls"][("_state.py", "AppState.claims")] == 1


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_call_with_bad_forwarded_claims_fails_before_io(
    emulator: Emulator, api: str
) -> None:
    _cache, app, _first, second, _before = served_once(emulator, api, BOB)
    with pytest.raises(ValueError):
        call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH, None, "{not json")


@pytest.mark.parametrize("api", APIS)
def test_a_plain_on_behalf_of_call_makes_no_extra_fields(emulator: Emulator, api: str) -> None:
    """No ``data`` and no forwarded claims: no extra fields and no extended cache key,
    known without a call."""
    _cache, _app, _second, miss = _new_assertion_miss(emulator, api)
    assert miss["calls"][("_token_query.py", "extra_fields")] == 0


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_strips_the_assertion_once_in_the_lane_and_once_in_the_builder(
    emulator: Emulator, api: str
) -> None:
    """The lane hashes the assertion it stripped to check it; the builder hides, hashes
    (the lane's hash) and hands on the assertion it stripped to check it."""
    _cache, app, _first, second, _before = served_once(emulator, api, BOB)
    results: list[Any] = []
    calls = builtin_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH))
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    strips = {
        module: n
        for (module, name), n in calls.items()
        if name in ("str.strip", "Secret.strip") and module in ("_hit_memo.py", "_client_calls.py")
    }
    assert strips == {"_hit_memo.py": 1, "_client_calls.py": 1}
