"""What a silent refresh reads of the cache before it redeems a refresh token: the app's
metadata and the account's refresh tokens, counted (never timed), in both APIs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

import identitylib
from identitylib import _log
from identitylib._cache._keys import app_metadata_key
from identitylib._cache._query import matches
from identitylib._cache._store import account_entries
from identitylib._flows import silent
from identitylib.emulator import Emulator

from ._apps import APIS, GRAPH, call_on, public_client, sign_in
from ._counting import builtin_calls, python_calls

ENV = "login.microsoftonline.com"
Calls = Counter[tuple[str, str]]


def _refresh_reads(
    emulator: Emulator, api: str, *, older_rt: bool = False
) -> Counter[tuple[str, str]]:
    """The Python calls of a forced silent refresh's refresh-token read
    (``refresh_token_candidates``), in ``api``; ``older_rt``: the account has a second
    refresh token, older (put into the section as another library would)."""
    cache = identitylib.TokenCache()
    account = sign_in(emulator, api, cache)
    if older_rt:
        ((key, rt),) = cache._cache["RefreshToken"].items()
        older = {**rt, "secret": "older", "last_modification_time": "1"}
        cache._cache["RefreshToken"][key + "-older"] = older
    app = public_client(emulator, api, cache)()
    call_on(api, app, "acquire_token_silent", GRAPH, account, None, True)  # (indices built)
    calls = python_calls(
        lambda: call_on(api, app, "acquire_token_silent", GRAPH, account, None, True),
        qualified=True,
        within="refresh_token_candidates",
    )
    assert calls[("silent.py", "refresh_token_candidates")] == 1
    return calls


@pytest.mark.parametrize("api", APIS)
def test_a_silent_refresh_reads_the_app_metadata_with_the_refresh_tokens(
    emulator: Emulator, api: str
) -> None:
    """The app's metadata and the account's refresh tokens come from one read of the
    cache (one index probe for both groups of refresh tokens, the family's and the app's
    own), not from a metadata read and a lookup per group."""
    calls = _refresh_reads(emulator, api)
    assert calls[("_own.py", "indexed_account_refresh_tokens")] == 1
    assert calls[("_store.py", "account_entries")] == 1
    assert calls[("_token_cache.py", "TokenCache._get_app_metadata")] == 0
    assert calls[("_token_cache.py", "TokenCache._lookup")] == 0
    assert calls[("_marked.py", "MarkedSections.sync")] == 0  # (both settled: see below)
    assert calls[("_marked.py", "MarkedSections.entry")] == 0  # (the metadata: its section's)
    assert calls[("_query.py", "field_matches")] == 0  # (the groups picked by value)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("older_rt", [False, True])
def test_a_silent_refresh_reads_settled_refresh_tokens_without_the_lock(
    emulator: Emulator, api: str, older_rt: bool
) -> None:
    """While the refresh-token and app-metadata sections are as marked at their last write
    (and the refresh tokens' index is built), the account's refresh tokens and the app's
    metadata are read without the cache's lock: no sync of either section, no hold of the
    lock (as the access-token side's settled readers read)."""
    calls = _refresh_reads(emulator, api, older_rt=older_rt)
    assert calls[("_store.py", "settled_account_refresh_tokens")] == 1
    assert calls[("_marked.py", "MarkedSections.as_marked")] == 2
    assert calls[("_marked.py", "MarkedSections.sync")] == 0
    assert calls[("_marked.py", "MarkedSections.section")] == 1  # (the RTs': the metadata's
    assert calls[("_store.py", "account_entries")] == 1  # read as as_marked found it)
    assert calls[("_log.py", "hide_secrets")] == (2 if older_rt else 1)


@pytest.mark.parametrize("api", APIS)
def test_a_silent_refresh_checks_the_refresh_tokens_without_a_generator_or_a_keep_call(
    emulator: Emulator, api: str
) -> None:
    """The refresh tokens the index names are checked against the account in one list
    comprehension: no generator over the keys, no callable per entry."""
    calls = _refresh_reads(emulator, api)
    assert not [name for name in calls if "<genexpr>" in name[1] or "<lambda>" in name[1]]
    assert sum(calls.values()) <= 29, calls  # (67 when read per group, with a generator)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("older_rt", [False, True])
def test_an_accounts_refresh_tokens_are_read_from_their_bucket_and_checked_in_line(
    emulator: Emulator, api: str, older_rt: bool
) -> None:
    """The account's refresh tokens come from the bucket of its (home account,
    environment) index, probed with the two values as they are (no index picked, no
    query's components made), and each is checked against the two fields in the same
    frame (no ``matches`` per entry, no list comprehension)."""
    calls = _refresh_reads(emulator, api, older_rt=older_rt)
    assert calls[("_store.py", "account_entries")] == 1
    for name in (
        ("_store.py", "IndexedSections.found"),
        ("_store.py", "IndexedSections.candidates"),
        ("_index.py", "SectionIndex.candidates"),
        ("_index.py", "FieldIndex.keys_for"),
        ("_query.py", "components"),
        ("_query.py", "matches"),
    ):
        assert calls[name] == 0, name
    assert not [name for name in calls if name[0] == "_store.py" and "<listcomp>" in name[1]]
    assert sum(calls.values()) <= (17 if older_rt else 16), calls  # (29 and 31 with a match each)


def _silent_miss(
    emulator: Emulator, api: str, count: Callable[[Callable[[], Any]], Calls]
) -> Calls:
    """What ``count`` counts of a silent call, in ``api``, for a scope whose token was
    removed (the indices built; the sign-in's other tokens kept): a refresh."""
    cache = identitylib.TokenCache()
    account = sign_in(emulator, api, cache)
    app = public_client(emulator, api, cache)()
    call_on(api, app, "acquire_token_silent", GRAPH, account)  # (indices built)
    for entry in list(cache.search("AccessToken", target=GRAPH)):  # (the sign-in's stays)
        cache.remove_at(entry)
    results: list[Any] = []
    calls = count(lambda: results.append(call_on(api, app, "acquire_token_silent", GRAPH, account)))
    assert results[0]["token_source"] == "identity_provider", results[0]
    return calls


@pytest.mark.parametrize("api", APIS)
def test_a_silent_refresh_asks_the_index_its_environments_in_one_frame(
    emulator: Emulator, api: str
) -> None:
    """Before its refresh, a silent call for a scope no token grants asks the
    access-token index in which environments a token could match: one frame of the
    index, every environment checked in it (no helper per environment)."""
    calls = _silent_miss(
        emulator, api, partial(python_calls, qualified=True, within="_find_account_token")
    )
    assert calls[("silent.py", "_find_account_token")] == 1
    index_calls = {name: count for name, count in calls.items() if name[0] == "_index.py"}
    assert index_calls == {("_index.py", "AccessTokenIndex.environments_that_may_match"): 1}


@pytest.mark.parametrize("api", APIS)
def test_a_silent_refresh_asks_the_index_with_its_environments_folded_once(
    emulator: Emulator, api: str
) -> None:
    """The index reads the authority's cache environments as it files them (lower-cased)
    from a memo: no ``str.lower`` per environment on each silent call that refreshes (only
    the requested scope's, in the one environment holding the app's tokens)."""
    calls = _silent_miss(emulator, api, builtin_calls)
    assert calls["_index.py", "str.lower"] == len(GRAPH), calls


def test_an_accounts_refresh_tokens_are_those_found_for_the_account() -> None:
    """``account_entries`` finds what ``found`` finds for the account's query: the
    environment compared case-insensitively, another account's, a non-dict and an entry
    edited in place (to another account or environment) left out; a section without the
    index, or a value that is not a string, is answered by ``found`` itself."""
    cache = identitylib.TokenCache()
    entries: dict[str, Any] = {
        "own": _rt("u.t", "rt-own"),
        "upper": _rt("u.t", "rt-upper", environment=ENV.upper()),
        "someone": _rt("v.t", "rt-someone"),
        "moved": _rt("u.t", "rt-moved"),
        "elsewhere": _rt("u.t", "rt-elsewhere"),
    }
    cache._cache["RefreshToken"] = dict(entries)
    store = cache._synced("RefreshToken")
    account_entries(store, "RefreshToken", "u.t", ENV)  # (the index built)
    entries["moved"]["home_account_id"] = "w.t"  # (in place: no index notices)
    entries["elsewhere"]["environment"] = "login.example.com"
    account = {"home_account_id": "u.t", "environment": ENV.title()}
    expected = store.found("RefreshToken", account)
    assert sorted(e["secret"] for e in expected) == ["rt-own", "rt-upper"]
    found = account_entries(store, "RefreshToken", "u.t", ENV.title())
    assert [e["secret"] for e in found] == [e["secret"] for e in expected]
    assert account_entries(store, "RefreshToken", "x.t", ENV) == []
    assert account_entries(store, "AppMetadata", "u.t", ENV) == []  # (found's answer)
    unusual = {"home_account_id": 1, "environment": ENV}
    cache._cache["RefreshToken"]["odd"] = {**entries["own"], "home_account_id": 1}
    store = cache._synced("RefreshToken")
    assert account_entries(store, "RefreshToken", 1, ENV) == store.found(  # type: ignore[arg-type]
        "RefreshToken", unusual
    )
    assert len(account_entries(store, "RefreshToken", 1, ENV)) == 1  # type: ignore[arg-type]


def test_matches_compares_equal_strings_without_a_call_per_field() -> None:
    entry = {"home_account_id": "uid.utid", "environment": ENV, "client_id": "cid"}
    query = dict(entry)
    calls = python_calls(lambda: matches(entry, query, frozenset(), isolate=False))
    assert calls[("_query.py", "matches")] == 1
    assert calls[("_query.py", "field_matches")] == 0
    # (a field that differs, or one compared case-insensitively, is still field_matches's)
    assert matches(entry, {**query, "environment": ENV.upper()}, frozenset(), isolate=False)
    assert not matches(entry, {**query, "client_id": "other"}, frozenset(), isolate=False)
    assert not matches(entry, {**query, "family_id": "1"}, frozenset(), isolate=False)


def test_hide_secrets_looks_up_each_field_name_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The field names of the entry are each looked up in the plain fields (no pass over
    the whole set of plain field names, as a set difference makes)."""
    looked_up: list[Any] = []

    class Counted(frozenset[str]):
        def __contains__(self, name: object) -> bool:
            looked_up.append(name)
            return super().__contains__(name)

    monkeypatch.setattr(_log, "PLAIN_FIELDS", Counted(_log.PLAIN_FIELDS))
    entry = {"credential_type": "RefreshToken", "secret": "rt", "environment": ENV}
    hidden = _log.hide_secrets(entry)
    assert looked_up == list(entry)
    assert hidden == entry
    assert repr(hidden["secret"]) != repr("rt")


def test_hide_secrets_hides_a_plain_string_without_a_call_of_hide() -> None:
    entry = {"credential_type": "RefreshToken", "secret": "rt", "private_key": b"k", "claims": 3}
    calls = python_calls(lambda: _log.hide_secrets(entry))
    assert calls[("_log.py", "hide")] == 2  # (the bytes and the number: hide's own cases)
    hidden = _log.hide_secrets(entry)
    assert type(hidden["secret"]) is _log.Secret
    assert hidden == entry
    secret = _log.hide("s")
    assert _log.hide_secrets({"secret": secret})["secret"] is secret


def _rt(home: str, secret: str, **fields: Any) -> dict[str, Any]:
    return {
        "credential_type": "RefreshToken",
        "secret": secret,
        "home_account_id": home,
        "environment": ENV,
        "client_id": "cid",
        "target": "",
        "last_modification_time": "1",
        **fields,
    }


def test_the_one_read_finds_what_the_searches_find() -> None:
    """The family's and the app's own refresh tokens of the one read are those a search
    per group finds (the environment compared case-insensitively, other clients' and other
    accounts' tokens left out), an entry edited in place judged as it is now."""
    cache = identitylib.TokenCache()
    entries = {
        "own": _rt("u.t", "rt-own"),
        "family": _rt("u.t", "rt-family", client_id="other", family_id="1"),
        "upper": _rt("u.t", "rt-upper", environment=ENV.upper(), last_modification_time="2"),
        "stranger": _rt("u.t", "rt-stranger", client_id="other"),
        "someone": _rt("v.t", "rt-someone"),
        "edited": _rt("u.t", "rt-edited"),
    }
    cache._cache["RefreshToken"] = dict(entries)
    cache._cache["AppMetadata"] = {
        f"appmetadata-{ENV}-cid": {"client_id": "cid", "environment": ENV, "family_id": "1"}
    }
    assert silent.refresh_token_candidates(cache, "u.t", ENV, "cid")  # (indices built)
    entries["edited"]["home_account_id"] = "w.t"  # (in place: no index notices)
    indexed = silent.refresh_token_candidates(cache, "u.t", ENV, "cid")
    searched = silent._searched_refresh_tokens(cache, "u.t", ENV, "cid")
    assert [[e["secret"] for e in group] for group in indexed] == [
        ["rt-family"],
        ["rt-upper", "rt-own"],
    ]
    assert [sorted(e["secret"] for e in group) for group in searched] == [
        sorted(e["secret"] for e in group) for group in indexed
    ]


def test_an_app_metadata_key_is_made_in_one_call() -> None:
    """The key a silent refresh reads the app's metadata under is formatted at once (no
    join of a list made for it)."""
    calls = python_calls(
        lambda: app_metadata_key(environment=ENV, client_id="cid"), within="app_metadata_key"
    )
    assert calls == Counter({("_keys.py", "app_metadata_key"): 1})
    assert app_metadata_key(environment=ENV, client_id="cid") == f"appmetadata-{ENV}-cid"
    assert app_metadata_key(environment=None, client_id="cid") == "appmetadata--cid"
    assert app_metadata_key() == "appmetadata--"


@pytest.mark.parametrize("api", APIS)
def test_an_accounts_two_refresh_tokens_are_ordered_and_hidden_without_helper_frames(
    emulator: Emulator, api: str
) -> None:
    """The account's own RTs picked in one loop (no list comprehension), two of them
    ordered newest first by comparing their modification times (no sort and no key
    function's call per entry), each hidden in a loop."""
    calls = _refresh_reads(emulator, api, older_rt=True)
    assert calls[("silent.py", "_modified")] == 0
    assert not [name for name in calls if name[0] == "silent.py" and "<listcomp>" in name[1]]
    assert calls[("_log.py", "hide_secrets")] == 2


def test_two_refresh_tokens_are_ordered_as_the_sort_by_modification_time_orders_them() -> None:
    values = ["1", "2", "10", None, "", "x", " 4", "+5", "٣", 7]
    for first in values:
        for second in values:
            entries = [
                {"secret": "a", "last_modification_time": first},
                {"secret": "b", "last_modification_time": second},
            ]
            expected = sorted(entries, key=silent._modified, reverse=True)
            ordered = silent._newest_first_hidden(list(entries))
            assert [e["secret"] for e in ordered] == [e["secret"] for e in expected]
