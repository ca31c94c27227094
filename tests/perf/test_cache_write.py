"""The cache write of a token response (``TokenCache.add``), counted (never timed), in
the blocking and the asyncio API.

- An access token is keyed and filed from the values its writer made it of (its filing,
  ``_filing.made_filing``): no field of the entry is read back to key or file it.
- The app metadata every response repeats is left as it is, without making its key, while
  the entry stored last for it is still there and equal; one edited in place, replaced or
  removed is written again.
- A refresh token's rotation in a plain cache is ``update_rt``'s one put, without the
  keyword call of ``modify``; a subclass's ``update_rt`` and ``modify`` are still called.
- A one-scope request's scope text is made without the set, sort and join of several.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import identitylib
from identitylib._cache import _exact
from identitylib._cache._filing import filing_of, made_filing
from identitylib._cache._index import SectionIndex
from identitylib._cache._keys import access_token_key, access_token_key_from
from identitylib.emulator import DEMO_API_URI, Emulator

from ._apps import (
    APIS,
    GRAPH,
    USER_SCOPES,
    call_on,
    daemon,
    public_client,
    served_once,
    sign_in,
)
from ._counting import builtin_calls, python_calls

_GRAPH_APP = ["https://graph.microsoft.com/.default"]
_SLOTS = (
    "app", "assertion", "bound", "client_id", "environment", "ext_cache_key", "has_home",
    "home", "home_account_id", "key_id", "owner", "partition", "realm", "scopes", "target",
    "user_assertion_hash",
)  # fmt: skip


def _app_miss(emulator: Emulator, api: str, cache: Any) -> tuple[Any, Any]:
    """A daemon over ``cache`` after its first token (discovery done, app metadata
    stored, the indices built by a hit), and the counted calls of its next miss (another
    scope)."""
    app = daemon(emulator, api, cache)()
    first = call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    assert first["token_source"] == "identity_provider", first
    hit = call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    assert hit["token_source"] == "cache", hit
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_for_client", _GRAPH_APP))
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    return app, calls


@pytest.mark.parametrize("api", APIS)
def test_a_serializable_caches_write_marks_its_state_in_the_writes_own_frame(
    emulator: Emulator, api: str
) -> None:
    """A ``SerializableTokenCache`` (and a subclass of it) is marked changed by
    ``TokenCache.add`` itself: no override of ``add`` around the write. A plain
    ``TokenCache`` gets no such mark."""
    cache = identitylib.SerializableTokenCache()
    _, calls = _app_miss(emulator, api, cache)
    caches = ("_token_cache.py", "_serializable.py")
    adds = {name: count for name, count in calls.items() if name[0] in caches and name[1] == "add"}
    assert adds == {("_token_cache.py", "add"): 1}, adds
    assert cache.has_state_changed is True
    cache.serialize()
    assert cache.has_state_changed is False

    class Subclass(identitylib.SerializableTokenCache):
        pass

    marked = Subclass()
    _app_miss(emulator, api, marked)
    assert marked.has_state_changed is True
    plain = identitylib.TokenCache()
    _app_miss(emulator, api, plain)
    assert not hasattr(plain, "has_state_changed")


@pytest.mark.parametrize("api", APIS)
def test_an_access_token_is_keyed_and_filed_from_the_values_it_was_made_of(
    emulator: Emulator, api: str
) -> None:
    cache = identitylib.SerializableTokenCache()
    app, calls = _app_miss(emulator, api, cache)
    assert calls["_filing.py", "filing_of"] == 0
    assert calls["_filing.py", "made_filing"] == 1
    assert calls["_keys.py", "key_of"] == 0  # (nor the app metadata's: see below)
    assert calls["_keys.py", "access_token_key_from"] == 1
    # Keyed and filed as a reading of the stored entry would have keyed and filed it.
    section = cache._cache["AccessToken"]
    for key, entry in section.items():
        assert key == access_token_key(**entry)
    index = cache._store.exact_index
    assert index is not None
    assert index.filed == len(section) == 2
    again = call_on(api, app, "acquire_token_for_client", _GRAPH_APP)
    assert again["token_source"] == "cache", again


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"home_account_id": "uid.utid"},
        {"user_assertion_hash": "h"},
        {"key_id": "k"},
        {"ext_cache_key": "x"},
        {"environment": "Login.Example.COM", "target": "B a"},
    ],
)
def test_a_writers_filing_is_the_one_a_reading_of_its_entry_makes(fields: dict[str, Any]) -> None:
    entry: dict[str, Any] = {
        "credential_type": "AccessToken", "secret": "s", "home_account_id": None,
        "environment": "login.example.com", "client_id": "c", "realm": "r", "target": "a b",
        **fields,
    }  # fmt: skip
    made = made_filing(
        entry["environment"], entry["client_id"], entry["realm"], entry["home_account_id"],
        entry.get("user_assertion_hash"), entry["target"], entry.get("key_id"),
        entry.get("ext_cache_key"),
    )  # fmt: skip
    read = filing_of(entry)
    assert {n: getattr(made, n) for n in _SLOTS} == {n: getattr(read, n) for n in _SLOTS}
    assert access_token_key_from(
        made.home_account_id, made.environment, made.client_id, made.realm, made.target,
        made.ext_cache_key,
    ) == access_token_key(**entry)  # fmt: skip


@pytest.mark.parametrize("api", APIS)
def test_an_unchanged_app_metadata_is_left_without_making_its_key(
    emulator: Emulator, api: str
) -> None:
    cache = identitylib.SerializableTokenCache()
    app, calls = _app_miss(emulator, api, cache)
    assert calls["_keys.py", "key_of"] == 0
    assert calls["_store.py", "put_new"] == 1  # (the access token's)
    ((key, stored),) = cache._cache["AppMetadata"].items()
    # Edited in place: written again, equal to what the response says.
    stored["family_id"] = "1"
    _renewed(api, app, cache)
    assert cache._cache["AppMetadata"][key] == {
        "client_id": app.client_id, "environment": stored["environment"],
    }  # fmt: skip
    # Removed: written again.
    cache._store.delete("AppMetadata", key)
    _renewed(api, app, cache)
    assert key in cache._cache["AppMetadata"]


def _renewed(api: str, app: Any, cache: Any) -> None:
    """The app's Graph token again from the identity provider (the cached one removed)."""
    for entry in list(cache.search("AccessToken", target=[_GRAPH_APP[0]])):
        cache.remove_at(entry)
    result = call_on(api, app, "acquire_token_for_client", _GRAPH_APP)
    assert result["token_source"] == "identity_provider", result


class _OwnRotation(identitylib.TokenCache):
    rotated: list[str]

    def update_rt(self, rt_item: Any, new_rt: str) -> None:
        self.rotated.append(rt_item["secret"])
        super().update_rt(rt_item, new_rt)


@pytest.mark.parametrize("api", APIS)
def test_a_refresh_token_is_rotated_in_one_put(
    emulator: Emulator, api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = identitylib.SerializableTokenCache()
    account = sign_in(emulator, "sync", cache)
    (before,) = cache._cache["RefreshToken"].values()
    app = public_client(emulator, api, cache)()
    refiled: list[str] = []
    real = SectionIndex.refile_fields  # (what the store and replace refile a field index by)

    def watched(index: SectionIndex, key: str, old: Any, new: Any) -> None:
        refiled.append(new.get("credential_type") or "Account")
        real(index, key, old, new)

    monkeypatch.setattr(SectionIndex, "refile_fields", watched)
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_silent", GRAPH, account)),
        qualified=True,
    )
    assert results[0]["access_token"], results[0]
    assert calls["_token_cache.py", "TokenCache.update_rt"] == 0
    assert calls["_token_cache.py", "TokenCache.modify"] == 0
    assert calls["_keys.py", "refresh_token_key"] == 0
    assert calls["_event.py", "_is_rt"] == 0  # (the used entry's type read in line)
    # The stored entry rotated: its indices file the new one as they filed it, untouched.
    assert calls["_store.py", "IndexedSections.put_rotated"] == 1
    query = {"home_account_id": account["home_account_id"], "environment": after_env(cache)}
    assert [e["secret"] for e in cache.search("RefreshToken", query=query)] == [
        results[0]["refresh_token"]
    ]
    assert "RefreshToken" not in refiled
    ((key, after),) = cache._cache["RefreshToken"].items()
    assert after["secret"] == results[0]["refresh_token"] != before["secret"]
    assert {k: v for k, v in after.items() if k not in ("secret", "last_modification_time")} == {
        k: v for k, v in before.items() if k not in ("secret", "last_modification_time")
    }
    assert key == identitylib.TokenCache().key_makers["RefreshToken"](**after)


def after_env(cache: Any) -> str:
    ((_key, entry),) = cache._cache["RefreshToken"].items()
    return str(entry["environment"])


def test_a_rotation_of_a_copy_is_refiled() -> None:
    """A rotation made from a refresh token that is not the one stored under its key (a
    copy since replaced by another) is a ``put``: the indices refile what changed."""
    cache = identitylib.TokenCache()
    store = cache._store
    rt = {
        "credential_type": "RefreshToken", "secret": "s1", "home_account_id": "u.t",
        "environment": "login.example.com", "client_id": "c", "target": "a",
    }  # fmt: skip
    key = cache.key_makers["RefreshToken"](**rt)
    store.put("RefreshToken", key, {**rt, "family_id": "1"})
    assert list(cache.search("RefreshToken", query={"family_id": "1"}))
    store.put_rotated(cache._cache, key, rt, {**rt, "secret": "s2"})
    assert not list(cache.search("RefreshToken", query={"family_id": "1"}))
    assert [e["secret"] for e in cache.search("RefreshToken", query={"client_id": "c"})] == ["s2"]


@pytest.mark.parametrize("api", APIS)
def test_a_subclass_rotates_its_refresh_token_with_its_own_update_rt(
    emulator: Emulator, api: str
) -> None:
    cache = _OwnRotation()
    cache.rotated = []
    account = sign_in(emulator, "sync", cache)
    (before,) = cache._cache["RefreshToken"].values()
    app = public_client(emulator, api, cache)()
    result = call_on(api, app, "acquire_token_silent", GRAPH, account)
    assert result["access_token"], result
    assert cache.rotated == [before["secret"]]
    ((_key, after),) = cache._cache["RefreshToken"].items()
    assert after["secret"] == result["refresh_token"]


@pytest.mark.parametrize("api", APIS)
def test_a_one_scope_request_text_is_made_without_sorting(emulator: Emulator, api: str) -> None:
    _exact._ONE_SCOPE_TEXTS.clear()
    _exact._SCOPE_TEXTS.clear()
    cache = identitylib.SerializableTokenCache()
    _app, calls = _app_miss(emulator, api, cache)
    assert calls["_exact.py", "_scope_text"] == 0
    assert calls["_exact.py", "_one_scope_text"] == 1  # (a new scope: made once, kept)
    assert _exact.scope_text(_GRAPH_APP, user_flow=False) == (
        "https://graph.microsoft.com/.default"
    )
    assert calls["_exact.py", "_one_scope_text"] == 1


@pytest.mark.parametrize("target", ["api://x/.default", "openid", "User.Read"])
def test_a_one_scope_token_is_filed_under_its_scope_without_a_sort(target: str) -> None:
    """The request keys of a one-scope token: its lower-cased scope as it is (no sort, no
    join), the keys a token of several scopes would be filed under."""
    filing = made_filing("login.example.com", "cid", "tid", None, None, target, None, None)
    calls = builtin_calls(lambda: _exact.request_parts(filing))
    assert calls["_exact.py", "sorted"] == 0
    assert calls["_exact.py", "str.join"] == 0
    assert _exact.request_keys_of({**_entry_of(filing), "target": target}) == [
        _exact.request_key("login.example.com", "cid", "tid", None, None, [target.lower()])
    ]


def _entry_of(filing: Any) -> dict[str, Any]:
    return {
        "credential_type": "AccessToken",
        "environment": filing.environment,
        "client_id": filing.client_id,
        "realm": filing.realm,
        "home_account_id": None,
    }


def test_a_one_scope_text_is_the_text_of_several() -> None:
    for scope in ("API://X/Read", " api://x/read ", "a b", "", "openid", "Profile", "x\ty"):
        _exact._ONE_SCOPE_TEXTS.clear()
        for user_flow in (False, True):
            one = _exact.scope_text([scope], user_flow=user_flow)
            known = _exact._scope_text((scope,))
            several = None if known is None or (user_flow and known[1]) else known[0]
            assert one == several, (scope, user_flow)
    text = _exact.scope_text(["API://Y/.default"], user_flow=False)
    assert text is _exact.scope_text(["api://y/.DEFAULT"], user_flow=False)  # (interned)


@pytest.mark.parametrize("api", APIS)
def test_a_token_response_is_read_without_helpers_for_its_usual_forms(
    emulator: Emulator, api: str
) -> None:
    """A response and data that are dicts, a token endpoint that is a string, a response
    without client_info or ID token, one requested scope: read in line."""
    cache = identitylib.SerializableTokenCache()
    _app, calls = _app_miss(emulator, api, cache)
    for helper in ("_mapping", "environment_and_realm", "sorted_target"):
        assert calls["_event.py", helper] == 0, helper
    assert calls["_claims.py", "home_account_id_from"] == 0
    ((_key, entry),) = [
        (k, e) for k, e in cache._cache["AccessToken"].items() if e["target"] == _GRAPH_APP[0]
    ]
    assert entry["home_account_id"] is None
    assert entry["realm"]


@pytest.mark.parametrize("api", APIS)
def test_a_user_tokens_requests_are_not_parsed_for_an_app_shelf(
    emulator: Emulator, api: str
) -> None:
    cache = identitylib.SerializableTokenCache()
    account = sign_in(emulator, "sync", cache)
    app = public_client(emulator, api, cache)()
    hit = call_on(api, app, "acquire_token_silent", USER_SCOPES, account)  # (the index)
    assert hit["token_source"] == "cache", hit
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_silent", GRAPH, account))
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    assert calls["_exact.py", "add"] == 1  # (filed in its own frame)
    assert calls["_exact.py", "app_shelf_parts"] == 0
    again = call_on(api, app, "acquire_token_silent", GRAPH, account)
    assert again["token_source"] == "cache", again


@pytest.mark.parametrize("api", APIS)
def test_a_user_token_is_filed_under_its_requests_in_adds_own_frame(
    emulator: Emulator, api: str
) -> None:
    """A user token's two requests (its target with and without the scopes the server
    adds) are filed in ``add``'s own frame when nothing else is filed there (and found by
    the next call's lookup)."""
    cache = identitylib.SerializableTokenCache()
    account = sign_in(emulator, "sync", cache)
    app = public_client(emulator, api, cache)()
    hit = call_on(api, app, "acquire_token_silent", USER_SCOPES, account)  # (the index)
    assert hit["token_source"] == "cache", hit
    calls = python_calls(lambda: call_on(api, app, "acquire_token_silent", GRAPH, account))
    assert calls["_exact.py", "add"] == 1
    assert calls["_exact.py", "_set_filed"] == 0
    assert calls["_exact.py", "_set"] == 0
    again = call_on(api, app, "acquire_token_silent", GRAPH, account)
    assert again["token_source"] == "cache", again


def test_a_user_tokens_request_texts_are_made_from_one_sort() -> None:
    target = "User.Read openid Profile offline_access"
    filing = made_filing("login.example.com", "cid", "tid", "u.t", None, target, None, None)
    sorts = builtin_calls(lambda: _exact.request_parts(filing))
    assert sorts["_exact.py", "sorted"] == 1
    parts = _exact.request_parts(filing)
    assert parts is not None
    assert parts[1] == ["offline_access openid profile user.read", "user.read"]


def test_a_filed_partitions_new_token_is_filed_without_its_partition() -> None:
    """Once every partition is filed (none pending, no key text to search), a new token
    is filed at once: no partition made, none remembered."""
    section: dict[str, Any] = {}
    index = _exact.build_exact_index(section)
    entry = {
        "credential_type": "AccessToken", "secret": "s", "home_account_id": None,
        "environment": "login.example.com", "client_id": "c", "realm": "r", "target": "a",
    }  # fmt: skip
    section["k"] = entry
    index.add("k", entry)
    assert index._popped == set()
    request = _exact.request_key("login.example.com", "c", "r", None, None, ["a"])
    hit = index.hit_for(request)
    assert hit is not None
    assert hit.key == "k"


@pytest.mark.parametrize("api", APIS)
def test_an_app_tokens_shelf_is_known_from_its_request_parts(emulator: Emulator, api: str) -> None:
    """An app token the writer filed goes on its app shelf from the parts its request was
    made of: the request is not parsed back (``app_shelf_parts``)."""
    cache = identitylib.SerializableTokenCache()
    app, calls = _app_miss(emulator, api, cache)
    assert calls["_exact.py", "app_shelf_parts"] == 0
    assert calls["_exact.py", "request_parts"] == 1
    index = cache._store.exact_index
    assert index is not None
    (entry,) = [e for e in cache._cache["AccessToken"].values() if e["target"] == _GRAPH_APP[0]]
    head = _exact.app_request(
        _exact.request_prefix(entry["environment"], entry["client_id"], entry["realm"]), ""
    )
    shelf = index.shelf(head)
    assert shelf is not None
    assert shelf[_GRAPH_APP[0]].entry is entry
    hit = call_on(api, app, "acquire_token_for_client", _GRAPH_APP)
    assert hit["token_source"] == "cache", hit


def test_a_request_whose_parts_hold_the_separator_is_not_shelved() -> None:
    """As ``app_shelf_parts`` finds: a client id holding the separator puts no token on a
    shelf (the request is still filed)."""
    section: dict[str, Any] = {}
    index = _exact.build_exact_index(section)
    client = "c\x1fd"
    entry = {
        "credential_type": "AccessToken", "secret": "s", "home_account_id": None,
        "environment": "login.example.com", "client_id": client, "realm": "r", "target": "a",
    }  # fmt: skip
    section["k"] = entry
    filing = made_filing("login.example.com", client, "r", None, None, "a", None, None)
    index.add("k", entry, filing)
    request = _exact.request_key("login.example.com", client, "r", None, None, ["a"])
    assert index.filed_hit(request) is not None
    assert index._shelves == {}


def _second_assertion(api: str, served: Any) -> tuple[Any, list[Any]]:
    """The counted calls (qualified) of ``served``'s on-behalf-of call with its second
    assertion, a miss, and its result."""
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(
            call_on(api, served.app, "acquire_token_on_behalf_of", served.second, GRAPH)
        ),
        qualified=True,
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    return calls, results


@pytest.mark.parametrize("api", APIS)
def test_a_token_renewed_under_a_new_assertion_is_swapped_in_line(
    emulator: Emulator, api: str
) -> None:
    """An on-behalf-of call with a new assertion of the same user: its access token is
    moved to the new assertion's requests without unfiling and filing them one by one,
    and its refresh token is refiled (by its assertion hash) without a component read of
    either entry; no store write goes through ``put``'s own frame."""
    served = served_once(emulator, api)
    hit = call_on(api, served.app, "acquire_token_on_behalf_of", served.first, GRAPH)
    assert hit["token_source"] == "cache", hit
    calls, results = _second_assertion(api, served)
    assert calls["_exact.py", "ExactRequestIndex.reassert"] == 1
    for name in ("remove", "_drop", "_file", "_set", "replace"):
        assert calls["_exact.py", f"ExactRequestIndex.{name}"] == 0, name
    assert calls["_index.py", "SectionIndex.reassert"] == 0
    assert calls["_index.py", "AccessTokenIndex.reassert"] == 1
    assert calls["_index.py", "FieldIndex.refile"] == 1  # (the refresh token's hash)
    assert calls["_index.py", "FieldIndex._value"] == 0
    assert calls["_store.py", "IndexedSections.put"] == 0
    # Each assertion finds its own token alone; the old one no longer does.
    again = call_on(api, served.app, "acquire_token_on_behalf_of", served.second, GRAPH)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == results[0]["access_token"]
    old = call_on(api, served.app, "acquire_token_on_behalf_of", served.first, GRAPH)
    assert old["token_source"] == "identity_provider", old


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_tokens_refiling_takes_one_frame_per_index(
    emulator: Emulator, api: str
) -> None:
    """An on-behalf-of call with a new assertion of the same user: the access token moves
    to the new assertion's partition in ``AccessTokenIndex.reassert``'s own frame (no
    helper of its own), and the store refiles the refresh token in its field indices
    without ``SectionIndex.replace``'s frame; each found under its new assertion alone."""
    served = served_once(emulator, api)
    calls, results = _second_assertion(api, served)
    # (the index's frames of the call but the lookups' reads)
    reads = ("applies_to", "binds", "folded", "holds")
    in_index = {
        name: n
        for (module, name), n in calls.items()
        if module == "_index.py" and name.rpartition(".")[2] not in reads
    }
    assert in_index == {
        "AccessTokenIndex.reassert": 1,
        "SectionIndex.refile_fields": 1,
        "FieldIndex.refile": 1,
    }
    cache = served.cache
    from identitylib._cache import assertion_hash

    (at,) = cache.search(
        "AccessToken", query={"user_assertion_hash": assertion_hash(served.second)}
    )
    assert at["secret"] == results[0]["access_token"]
    (rt,) = cache.search(
        "RefreshToken", query={"user_assertion_hash": assertion_hash(served.second)}
    )
    assert rt["secret"] == results[0]["refresh_token"]
    old = {"user_assertion_hash": assertion_hash(served.first)}
    assert list(cache.search("AccessToken", query=old)) == []
    assert list(cache.search("RefreshToken", query=old)) == []


@pytest.mark.parametrize("api", APIS)
def test_an_app_token_is_written_without_the_helpers_of_the_general_path(
    emulator: Emulator, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The write of a client-credentials miss in a plain cache: the debug level, the time
    and the plain ``modify`` checked in line, each section's sync found unneeded in line,
    the access-token index and the exact-request index asked directly, the new request
    filed alone on its app shelf in line."""
    caplog.set_level(logging.INFO, logger="identitylib._cache._token_cache")  # (no DEBUG)
    cache = identitylib.SerializableTokenCache()
    app, _unqualified = _app_miss(emulator, api, cache)
    for entry in list(cache.search("AccessToken", target=_GRAPH_APP)):
        cache.remove_at(entry)
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_for_client", _GRAPH_APP)),
        qualified=True,
        within="TokenCache.add",
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    assert calls["_token_cache.py", "TokenCache.add"] == 1
    for module, name in (
        ("_token_cache.py", "_log_event"),
        ("_seconds.py", "seconds"),
        ("_marked.py", "MarkedSections.sync"),
        ("_store.py", "IndexedSections.put"),
        ("_index.py", "SectionIndex.add"),
        ("_query.py", "scope_set"),
        ("_exact.py", "ExactRequestIndex._file"),
        ("_exact.py", "ExactRequestIndex._set_filed"),
        ("_exact.py", "ExactRequestIndex._set"),
        ("_exact.py", "ExactRequestIndex.add.<locals>.<listcomp>"),
        ("_event.py", "_sorted_target"),
    ):
        assert calls[module, name] == 0, name
    # The whole write: add and these frames (38 before this work), logging's level check,
    # the access token's entry (``_event._access_token``) and the sections' checks
    # (``MarkedSections.as_marked``, one per section written) among them.
    assert sum(calls.values()) <= 18, sorted(calls)
    assert calls["_index.py", "AccessTokenIndex.add"] == 1
    # the exact-request index files it in add's own frame (no filing helper of its own)
    in_exact = {name: n for (module, name), n in calls.items() if module == "_exact.py"}
    assert in_exact == {
        "ExactRequestIndex.add": 1, "request_parts": 1, "FiledToken.__init__": 1,
    }  # fmt: skip
    hit = call_on(api, app, "acquire_token_for_client", _GRAPH_APP)
    assert hit["token_source"] == "cache", hit


def test_an_app_metadata_key_of_another_maker_is_not_remembered() -> None:
    """The app metadata written under a key maker of the app's own is not what the default
    maker's next write is decided by: that write stores it under the default key."""
    from identitylib._cache._keys import app_metadata_key

    cache = identitylib.TokenCache()
    cache.key_makers["AppMetadata"] = lambda **entry: f"own-{entry['client_id']}"
    event = {
        "client_id": "c", "scope": ["api://a/.default"],
        "token_endpoint": "https://login.example.com/t/oauth2/v2.0/token",
        "response": {"access_token": "at", "expires_in": 3600}, "data": {},
    }  # fmt: skip
    cache.add(event)
    cache.key_makers["AppMetadata"] = app_metadata_key
    cache.add({**event, "scope": ["api://b/.default"]})
    assert sorted(cache._cache["AppMetadata"]) == ["appmetadata-login.example.com-c", "own-c"]


@pytest.mark.parametrize("api", APIS)
def test_a_scope_its_bucket_grants_already_is_not_counted_again(
    emulator: Emulator, api: str
) -> None:
    """A user's token for another scope lands in the bucket of the account's tokens, which
    grant the scopes the server adds already: only its new scope is counted (the scope
    counts are per bucket, not per token), and removing it uncounts only that one."""
    cache = identitylib.SerializableTokenCache()
    account = sign_in(emulator, "sync", cache)
    app = public_client(emulator, api, cache)()
    hit = call_on(api, app, "acquire_token_silent", USER_SCOPES, account)  # (the index)
    assert hit["token_source"] == "cache", hit
    index = cache._store.indices["AccessToken"].access_tokens
    assert index is not None
    before = dict(index._scope_counts)
    added = [scope for _app, scope in before if scope in {"openid", "profile"}]
    assert added, before  # (the server adds them: granted by the account's first token)
    result = call_on(api, app, "acquire_token_silent", GRAPH, account)
    assert result["token_source"] == "identity_provider", result
    after = dict(index._scope_counts)
    assert {k: n for k, n in after.items() if k not in before} == {
        (k[0], "user.read"): 1 for k in before
    }
    assert {k: after[k] for k in before} == before  # (nothing counted twice)
    (token,) = [
        e for e in cache._cache["AccessToken"].values() if e["target"].startswith("User.Read")
    ]
    cache.remove_at(token)
    assert dict(index._scope_counts) == before
    assert index.may_match(
        {"environment": token["environment"], "client_id": token["client_id"]},
        frozenset({"openid"}),
    )
    assert not index.may_match(
        {"environment": token["environment"], "client_id": token["client_id"]},
        frozenset({"user.read"}),
    )
