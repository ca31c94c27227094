"""The on-behalf-of miss's cache write (library time per token request, bench workload 15),
counted (never timed), in the blocking and the asyncio API.

- A written access token that replaces one under its key is compared with it and filed
  in one reading of its fields (``_filing.filing_of(entry, old)``): no separate
  comparison that reads the new entry's fields before its filing reads them again.
- The request keys of an on-behalf-of token renewed under a new assertion are swapped
  in the exact-request index without asking, for each, whether it is an app-token
  request (an app shelf's): each names an assertion.
- The refresh-token index's probe by a new assertion's hash is one dict read (the index
  of that field found by name, no component made for a string).
- A replaced entry of a section with several field indices (the refresh tokens: by
  owner, family and assertion hash) has the fields they read compared in one pass, and
  only the indices whose fields changed refile it (they do not compare them again).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import identitylib
from identitylib.emulator import Emulator

from ._apps import APIS, BOB, GRAPH, call_on, served_once, user_assertion, web_api
from ._counting import python_calls


def _renewed_under_a_new_assertion(
    emulator: Emulator, api: str
) -> tuple[identitylib.TokenCache, Any, str, str, Counter[tuple[str, str]], dict[str, Any]]:
    """An on-behalf-of app's second call, with a new assertion of the same user (its
    access token and refresh token replace the first call's under their keys), counted."""
    cache, app, first, second, _ = served_once(emulator, api)
    assert first != second
    hit = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)
    assert hit["token_source"] == "cache", hit
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)),
        qualified=True,
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    return cache, app, first, second, calls, results[0]


@pytest.mark.parametrize("api", APIS)
def test_a_replaced_access_token_is_compared_and_filed_in_one_reading(
    emulator: Emulator, api: str
) -> None:
    cache, app, first, second, calls, renewed = _renewed_under_a_new_assertion(emulator, api)
    in_filing = {name: n for (module, name), n in calls.items() if module == "_filing.py"}
    # (its writer's filing, compared with the replaced entry: see test_cache_write.py)
    assert in_filing == {"made_filing": 1, "refiling": 1}  # (compared in its frame)
    # Its request keys (each names an assertion) are swapped without asking whether
    # they are app-token requests, whose tokens an app shelf also holds.
    assert calls["_exact.py", "ExactRequestIndex.reassert"] == 1
    assert calls["_exact.py", "app_shelf_parts"] == 0
    # Filed where it belongs: the new assertion finds it, the old one no longer does.
    again = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == renewed["access_token"]
    old = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)
    assert old["token_source"] == "identity_provider", old
    assert len(list(cache.search("AccessToken"))) == 1


@pytest.mark.parametrize("api", APIS)
def test_a_replaced_refresh_token_is_compared_once_for_its_field_indices(
    emulator: Emulator, api: str
) -> None:
    cache, _app, first, second, calls, renewed = _renewed_under_a_new_assertion(emulator, api)
    assert calls["_index.py", "SectionIndex.replace"] == 0  # (the store refiles directly)
    assert calls["_index.py", "FieldIndex.replace"] == 0  # no index compares its own fields
    assert calls["_index.py", "FieldIndex.refile"] == 1  # the assertion hash's index alone
    # (the access-token section has no field index: nothing compared for it)
    assert calls["_index.py", "SectionIndex.refile_fields"] == 1  # (the refresh token's write)
    from identitylib._cache import assertion_hash

    (rt,) = cache.search("RefreshToken", query={"user_assertion_hash": assertion_hash(second)})
    assert rt["secret"] == renewed["refresh_token"]
    old = {"user_assertion_hash": assertion_hash(first)}
    assert list(cache.search("RefreshToken", query=old)) == []
    (owned,) = cache.search(
        "RefreshToken",
        query={"home_account_id": rt["home_account_id"], "environment": rt["environment"]},
    )
    assert owned["secret"] == rt["secret"]


def test_a_replaced_access_token_files_alike_only_when_its_filing_would_be_the_same() -> None:
    """``filing_of(entry, old)``: None (alike) when every filed field is equal (None and
    absent alike, but for ``home_account_id``, whose presence the exact-request index
    reads); a filing otherwise, ``reasserted`` when only the assertion hash differs."""
    from identitylib._cache._filing import filing_of

    old = {
        "environment": "login.example.com", "client_id": "c", "realm": "r",
        "home_account_id": None, "target": "a b", "user_assertion_hash": "h1", "secret": "s1",
    }  # fmt: skip
    assert filing_of({**old, "secret": "s2"}, old) is None
    assert filing_of({**old, "key_id": None}, old) is None  # (files as absent)
    moved = filing_of({**old, "user_assertion_hash": "h2"}, old)
    assert moved is not None
    assert moved.reasserted
    assert moved.partition[-1] == "h2"
    for changed in (
        {"realm": "r2"},
        {"target": "a c"},
        {"key_id": "k"},
        {"kid": "k"},
        {"user_assertion_hash": None},
        {"realm": 1},
    ):
        refiled = filing_of({**old, **changed}, old)
        assert refiled is not None, changed
        assert not refiled.reasserted, changed
    without_home = {name: value for name, value in old.items() if name != "home_account_id"}
    assert filing_of(without_home, old) is not None  # (its presence files it or not)
    assert filing_of({**old, "realm": True}, {**old, "realm": 1}) is not None  # 1 == True
    assert filing_of({**old, "realm": 1}, {**old, "realm": 1}) is None


@pytest.mark.parametrize("api", APIS)
def test_a_new_assertion_probes_the_refresh_tokens_without_a_component_call(
    emulator: Emulator, api: str
) -> None:
    """The refresh-token index's probe by assertion hash (a string, not folded) is one
    dict read: the index found by its field, no component made, no index list walked."""
    first, second = user_assertion(emulator), user_assertion(emulator, BOB)
    app = web_api(emulator, api, identitylib.TokenCache())()
    before = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)  # (builds indices)
    assert before["token_source"] == "identity_provider", before
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)),
        qualified=True,
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    assert calls["_index.py", "SectionIndex.holds"] == 1  # (the probe was made)
    assert calls["_query.py", "component"] == 0
    again = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)
    assert again["token_source"] == "cache", again
