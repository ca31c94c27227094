"""An on-behalf-of token renewed under a new assertion of the same user (the web API's
next call for the user: the new token replaces the old under the same msal key) moves to
the new assertion in each index with a few dict operations, counted (never timed), in
the blocking and the asyncio API; and the indices' moves checked against a rebuild.

- The access-token index moves the old assertion's count of owners to the new one as it
  is when the token was the old assertion's only one (no ``_forget_assertion`` frame, no
  new dict).
- A field index moves the set of a value's only key to a value no key had (the refresh
  token's assertion hash), without making a set.
"""

from __future__ import annotations

from typing import Any

import pytest

from identitylib._cache import assertion_hash
from identitylib._cache._exact import ExactRequestIndex, request_key
from identitylib._cache._filing import filing_of
from identitylib._cache._index import AccessTokenIndex, FieldIndex, SectionIndex, build_indices
from identitylib.emulator import Emulator

from ._apps import APIS, GRAPH, call_on, served_once
from ._counting import builtin_calls, python_calls


def _new_assertion(emulator: Emulator, api: str, count: Any) -> tuple[Any, Any, Any]:
    """(the served app, what ``count`` counted of its call with its second assertion (a
    miss), the result)."""
    served = served_once(emulator, api)
    results: list[Any] = []
    counted = count(
        lambda: results.append(
            call_on(api, served.app, "acquire_token_on_behalf_of", served.second, GRAPH)
        )
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    return served, counted, results[0]


@pytest.mark.parametrize("api", APIS)
def test_a_reasserted_token_moves_its_assertions_count_of_owners_as_it_is(
    emulator: Emulator, api: str
) -> None:
    served, calls, result = _new_assertion(emulator, api, python_calls)
    assert calls["_index.py", "reassert"] == 1
    assert calls["_index.py", "_forget_assertion"] == 0
    indices = served.cache._store.indices
    assert _assertion_homes(indices) == _assertion_homes(build_indices(served.cache._cache))
    again = call_on(api, served.app, "acquire_token_on_behalf_of", served.second, GRAPH)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == result["access_token"]
    old = call_on(api, served.app, "acquire_token_on_behalf_of", served.first, GRAPH)
    assert old["token_source"] == "identity_provider", old


@pytest.mark.parametrize("api", APIS)
def test_a_refresh_tokens_new_assertion_takes_its_old_set_in_the_field_index(
    emulator: Emulator, api: str
) -> None:
    served, calls, result = _new_assertion(emulator, api, builtin_calls)
    assert calls["_index.py", "set.discard"] == 0
    assert calls["_index.py", "set.add"] == 0
    cache = served.cache
    (rt,) = cache.search(
        "RefreshToken", query={"user_assertion_hash": assertion_hash(served.second)}
    )
    assert rt["secret"] == result["refresh_token"]
    old = {"user_assertion_hash": assertion_hash(served.first)}
    assert list(cache.search("RefreshToken", query=old)) == []


_KEY = "home-login.example.com-accesstoken-client-tenant-user.read"


def _assertion_homes(indices: Any) -> Any:
    return indices["AccessToken"].access_tokens._assertion_homes


def _entry(assertion: str, target: str = "User.Read") -> dict[str, Any]:
    return {
        "environment": "login.example.com", "client_id": "client", "realm": "tenant",
        "home_account_id": "home", "user_assertion_hash": assertion, "target": target,
    }  # fmt: skip


def test_a_token_beside_another_of_its_assertion_leaves_the_assertion_bound() -> None:
    index = AccessTokenIndex()
    index.add("k1", _entry("a1"))
    index.add("k2", _entry("a1", "Mail.Read"))
    new = _entry("a2")
    index.reassert("k1", _entry("a1"), new, filing_of(new))
    query = {"environment": "login.example.com", "client_id": "client"}
    assert index.binds(query, "a1")
    assert index.binds(query, "a2")
    moved = _entry("a2", "Mail.Read")
    index.reassert("k2", _entry("a1", "Mail.Read"), moved, filing_of(moved))
    assert not index.binds(query, "a1")
    assert index._assertion_homes == {(("login.example.com", "client"), "a2"): {"home": 2}}


def test_a_token_moved_to_an_assertion_already_bound_is_counted_beside_it() -> None:
    index = AccessTokenIndex()
    index.add("k1", _entry("a1"))
    index.add("k2", _entry("a2", "Mail.Read"))
    new = _entry("a2")
    index.reassert("k1", _entry("a1"), new, filing_of(new))
    assert index._assertion_homes == {(("login.example.com", "client"), "a2"): {"home": 2}}


def test_a_field_index_moves_a_key_beside_others_one_by_one() -> None:
    index = FieldIndex("user_assertion_hash")
    index.add("r1", {"user_assertion_hash": "a1"})
    index.add("r2", {"user_assertion_hash": "a1"})
    index.add("r3", {"user_assertion_hash": "a3"})
    index.refile("r1", {"user_assertion_hash": "a1"}, {"user_assertion_hash": "a2"})
    assert index._buckets == {("a1",): {"r2"}, ("a2",): {"r1"}, ("a3",): {"r3"}}
    index.refile("r2", {"user_assertion_hash": "a1"}, {"user_assertion_hash": "a3"})
    assert index._buckets == {("a2",): {"r1"}, ("a3",): {"r2", "r3"}}
    index.refile("r1", {"user_assertion_hash": "a2"}, {"user_assertion_hash": "a4"})
    assert index._buckets == {("a3",): {"r2", "r3"}, ("a4",): {"r1"}}


@pytest.mark.parametrize("api", APIS)
def test_a_refresh_tokens_changed_fields_are_not_listed_to_refile_it(
    emulator: Emulator, api: str
) -> None:
    """The field indices a changed field is read by are known per field: the refresh
    token's new assertion hash refiles the one index of it, no list of changes made."""
    _served, calls, _result = _new_assertion(emulator, api, builtin_calls)
    assert calls["_index.py", "list.append"] == 0


def test_each_field_index_reading_a_changed_field_is_refiled_once() -> None:
    entry = {"home_account_id": "h", "environment": "e", "family_id": "1", "username": "u"}
    section = SectionIndex(
        FieldIndex("home_account_id", "environment"), FieldIndex("family_id"),
        FieldIndex("environment"),
    )  # fmt: skip
    section.add("k", entry)
    moved = {**entry, "home_account_id": "h2", "environment": "e2"}
    refiled = python_calls(lambda: section.refile_fields("k", entry, moved), qualified=True)
    assert refiled["_index.py", "FieldIndex.refile"] == 2  # (not 3: the owner's once)
    assert section.candidates({"home_account_id": "h2", "environment": "e2"}) == {"k"}
    assert section.candidates({"environment": "e"}) == set()
    assert section.candidates({"family_id": "1"}) == {"k"}


@pytest.mark.parametrize("api", APIS)
def test_a_reasserted_tokens_requests_are_checked_for_their_head_once(
    emulator: Emulator, api: str
) -> None:
    """The requests of a token are made from one filing (one head): the first one tells
    whether they name the old assertion; each is still checked for being the token's
    alone, and unfiled and its new one filed in one pass."""
    served, calls, result = _new_assertion(emulator, api, builtin_calls)
    assert calls["_exact.py", "str.startswith"] == 1
    again = call_on(api, served.app, "acquire_token_on_behalf_of", served.second, GRAPH)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == result["access_token"]


def _user_request(assertion: str, scopes: list[str]) -> str:
    return request_key("login.example.com", "client", "tenant", None, assertion, scopes)


def test_an_exact_index_moves_a_token_to_its_new_assertions_requests() -> None:
    exact = ExactRequestIndex()
    old, new = _entry("a1", "User.Read openid"), _entry("a2", "User.Read openid")
    exact.add(_KEY, old)
    assert exact.key_for(_user_request("a1", ["user.read"])) == _KEY
    exact.reassert(_KEY, old, new, filing_of(new))
    assert exact.key_for(_user_request("a2", ["user.read"])) == _KEY
    assert exact.key_for(_user_request("a2", ["openid", "user.read"])) == _KEY
    assert exact.key_for(_user_request("a1", ["user.read"])) is None
    assert exact.filed_hit(_user_request("a2", ["user.read"])).entry is new


def test_an_exact_index_moves_a_token_beside_one_of_its_new_requests_as_ambiguous() -> None:
    exact = ExactRequestIndex()
    old, new = _entry("a1"), _entry("a2")
    other = _entry("a2", "User.Read openid")
    exact.add(_KEY, old)
    exact.add("other", other)
    exact.reassert(_KEY, old, new, filing_of(new))
    assert exact.key_for(_user_request("a2", ["user.read"])) is None  # (two tokens: ambiguous)
    assert exact.key_for(_user_request("a2", ["openid", "user.read"])) == "other"
    assert exact.key_for(_user_request("a1", ["user.read"])) is None


def test_an_exact_index_refiles_a_token_filed_under_another_head_anew() -> None:
    exact = ExactRequestIndex()
    filed = _entry("a1")
    exact.add(_KEY, filed)
    edited = {**filed, "realm": "other"}  # (as edited in place since it was filed)
    new = {**edited, "user_assertion_hash": "a2"}
    exact.reassert(_KEY, edited, new, filing_of(new))
    moved = request_key("login.example.com", "client", "other", None, "a2", ["user.read"])
    assert exact.key_for(moved) == _KEY
