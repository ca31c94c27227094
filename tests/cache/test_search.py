"""search(): query semantics, subset hits, ordering, expiry, isolation, indexed helpers."""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

import pytest

from identitylib._cache import SerializableTokenCache, TokenCache, assertion_hash

from ._builders import (
    GRAPH_DEFAULT,
    HOST,
    NOW,
    at_query,
    client_credentials_event,
    user_event,
)

AT = "AccessToken"
USER_HOME = "oid1.tid"


def user_cache(**event_fields: Any) -> SerializableTokenCache:
    cache = SerializableTokenCache()
    cache.add(user_event(**event_fields), now=NOW)
    return cache


def secrets(entries: Any) -> list[str]:
    return [entry["secret"] for entry in entries]


def search_at(cache: TokenCache, scopes: list[str], **query: Any) -> list[str]:
    return secrets(cache.search(AT, target=scopes, query=at_query(**query), now=NOW))


@pytest.mark.parametrize(
    "scopes",
    [["User.Read"], ["user.read"], ["EMAIL", "User.Read"], ["openid", "profile", "email"], []],
)
def test_requested_subset_of_granted_scopes_hits(scopes):
    assert search_at(user_cache(), scopes) == ["user-at"]


@pytest.mark.parametrize("scopes", [["Mail.Send"], ["User.Read", "Mail.Send"], ["user"]])
def test_scopes_outside_the_target_miss(scopes):
    assert search_at(user_cache(), scopes) == []


def test_other_account_realm_client_or_environment_miss():
    cache = user_cache()
    assert search_at(cache, ["User.Read"], home_account_id="oid2.tid") == []
    assert search_at(cache, ["User.Read"], realm="other") == []
    assert search_at(cache, ["User.Read"], client_id="other") == []
    assert search_at(cache, ["User.Read"], environment="login.windows.net") == []
    assert search_at(cache, ["User.Read"], environment="LOGIN.microsoftonline.COM") == ["user-at"]


def test_exact_key_entry_is_yielded_first():
    cache = TokenCache()
    cache.add(user_event(granted="a b c", access_token="wide"), now=NOW)
    cache.add(user_event(granted="a b", access_token="exact"), now=NOW)
    cache.add(user_event(granted="a b d", access_token="wide2"), now=NOW)
    found = search_at(cache, ["b", "a"])
    assert found[0] == "exact"
    assert sorted(found) == ["exact", "wide", "wide2"]
    assert search_at(cache, ["A", "C"]) == ["wide"]


def test_expired_tokens_are_removed_during_search():
    cache = SerializableTokenCache()
    cache.add(client_credentials_event(["s1"], access_token="old", expires_in=10), now=NOW)
    cache.add(client_credentials_event(["s1", "s2"], access_token="fresh"), now=NOW)
    cache.serialize()
    later = NOW + 100
    found = cache.search(AT, query=at_query(None), now=later)  # no target: no exact key
    assert secrets(found) == ["fresh"]
    assert [e["secret"] for e in cache._cache[AT].values()] == ["fresh"]
    assert cache.has_state_changed
    assert secrets(cache.search(AT, target=["s1"], query=at_query(None), now=later)) == ["fresh"]


def test_expired_exact_key_token_is_yielded_then_removed_as_msal_does():
    """msal's search yields the AT under the query's exact key expired or not (its caller
    judges expiry), then removes it with the other expired ATs as the scan goes past it."""
    cache = SerializableTokenCache()
    cache.add(client_credentials_event(["s1"], access_token="old", expires_in=10), now=NOW)
    cache.add(client_credentials_event(["s1", "s2"], access_token="fresh"), now=NOW)
    cache.serialize()
    later = NOW + 100
    found = cache.search(AT, target=["s1"], query=at_query(None), now=later)
    assert next(found)["secret"] == "old"
    assert len(cache._cache[AT]) == 2  # not removed before the search goes on
    assert secrets(found) == ["fresh"]
    assert [e["secret"] for e in cache._cache[AT].values()] == ["fresh"]
    assert cache.has_state_changed


def test_entry_with_unreadable_expiry_counts_as_expired():
    cache = SerializableTokenCache()
    cache.add(client_credentials_event(), now=NOW)
    next(iter(cache._cache[AT].values()))["expires_on"] = "soon"
    assert list(cache.search(AT, query=at_query(None), now=NOW)) == []
    assert cache._cache[AT] == {}


def test_key_id_isolation():
    cache = TokenCache()
    cache.add(client_credentials_event(["s"], access_token="bearer"), now=NOW)
    cache.add(client_credentials_event(["t"], access_token="pop", data={"key_id": "k1"}), now=NOW)
    assert search_at(cache, ["t"], home_account_id=None) == []
    assert search_at(cache, ["t"], home_account_id=None, key_id="k1") == ["pop"]
    assert search_at(cache, ["t"], home_account_id=None, key_id="k2") == []
    assert search_at(cache, ["s"], home_account_id=None, key_id="k1") == []
    assert search_at(cache, ["s"], home_account_id=None) == ["bearer"]


def test_ext_cache_key_isolation():
    cache = TokenCache()
    cache.add(client_credentials_event(access_token="plain"), now=NOW)
    cache.add(client_credentials_event(access_token="fmi-a", data={"fmi_path": "a"}), now=NOW)
    cache.add(client_credentials_event(access_token="fmi-b", data={"fmi_path": "b"}), now=NOW)
    keys = {e["secret"]: e.get("ext_cache_key") for e in cache._cache[AT].values()}
    assert len(cache._cache[AT]) == 3
    assert search_at(cache, [GRAPH_DEFAULT], home_account_id=None) == ["plain"]
    for name in ("fmi-a", "fmi-b"):
        query = {"home_account_id": None, "ext_cache_key": keys[name]}
        assert search_at(cache, [GRAPH_DEFAULT], **query) == [name]


def test_user_assertion_hash_isolation():
    first, second = assertion_hash("assertion-1"), assertion_hash("assertion-2")
    cache = TokenCache()
    cache.add(user_event(access_token="obo-1", user_assertion_hash=first), now=NOW)
    cache.add(user_event(uid="oid2", access_token="obo-2", user_assertion_hash=second), now=NOW)
    cache.add(user_event(uid="oid3", access_token="plain"), now=NOW)
    assert search_at(cache, ["User.Read"], user_assertion_hash=first) == ["obo-1"]
    assert search_at(cache, ["User.Read"], user_assertion_hash=second) == []
    assert search_at(cache, ["User.Read"], home_account_id="oid3.tid") == ["plain"]
    query = {"client_id": "cid", "environment": HOST, "user_assertion_hash": second}
    assert secrets(cache.search(AT, target=["user.read"], query=query, now=NOW)) == ["obo-2"]
    rts = cache.search("RefreshToken", query={"user_assertion_hash": first})
    assert [rt["home_account_id"] for rt in rts] == [USER_HOME]


def test_on_behalf_of_token_is_its_users_token():
    """A lookup for the user's tokens (acquire_token_silent's) finds the token obtained on
    behalf of that user, as msal's does, and so does a query naming no home account (as
    msal's); a lookup for app tokens (home_account_id None) never does."""
    cache = TokenCache()
    hashed = assertion_hash("assertion-1")
    cache.add(user_event(access_token="obo", user_assertion_hash=hashed), now=NOW)
    assert search_at(cache, ["User.Read"]) == ["obo"]  # home_account_id oid1.tid
    assert search_at(cache, ["User.Read"], home_account_id="oid2.tid") == []
    assert search_at(cache, ["User.Read"], home_account_id=None) == []
    everything = cache.search(AT, query={"client_id": "cid", "environment": HOST}, now=NOW)
    assert secrets(everything) == ["obo"]
    assert secrets(cache.search(AT, now=NOW)) == ["obo"]
    orphan = user_event(access_token="orphan", user_assertion_hash=hashed)
    del orphan["response"]["id_token"], orphan["response"]["client_info"]  # no user known
    cache.add(orphan, now=NOW)
    assert search_at(cache, ["User.Read"], home_account_id=None) == []  # not an app token
    assert search_at(cache, ["User.Read"], home_account_id=None, user_assertion_hash=hashed) == [
        "orphan"
    ]


def test_none_in_query_requires_the_field_to_be_present_and_null():
    cache = SerializableTokenCache()
    cache.add(client_credentials_event(), now=NOW)
    cache.add(user_event(), now=NOW)
    assert search_at(cache, [], home_account_id=None) == ["app-at"]
    state = json.loads(cache.serialize())
    for entry in state[AT].values():
        entry.pop("home_account_id", None) if entry["home_account_id"] is None else None
    cache.deserialize(json.dumps(state))
    assert search_at(cache, [], home_account_id=None) == []
    assert len(list(cache.search(AT, query={"client_id": "cid"}, now=NOW))) == 2


def test_queries_of_other_sections():
    cache = TokenCache()
    cache.add(user_event(foci="1"), now=NOW)
    cache.add(user_event(client_id="other", refresh_token="other-rt"), now=NOW)
    cache.add(user_event(uid="oid2", refresh_token="rt2"), now=NOW)
    owned = {"environment": HOST, "home_account_id": USER_HOME}
    rts = cache.search("RefreshToken", query=owned)
    assert sorted(secrets(rts)) == ["other-rt", "user-rt"]
    family = cache.search("RefreshToken", query=dict(owned, family_id="1"))
    assert secrets(family) == ["user-rt"]
    mine = cache.search("RefreshToken", query=dict(owned, client_id="other"))
    assert secrets(mine) == ["other-rt"]
    accounts = list(cache.search("Account", query={"environment": HOST.upper()}))
    assert sorted(a["home_account_id"] for a in accounts) == ["oid1.tid", "oid2.tid"]
    assert len(list(cache.search("IdToken", query=owned))) == 2
    apps = list(cache.search("AppMetadata", query={"environment": HOST, "client_id": "cid"}))
    assert apps == [{"client_id": "cid", "environment": HOST}]  # The last add had no foci.
    unindexed = list(cache.search("Account", query={"realm": "tid"}))
    assert len(unindexed) == 2
    everything = list(cache.search(AT, now=NOW))
    assert len(everything) == 3


def test_target_case_insensitive_for_other_sections():
    cache = user_cache()
    rts = list(cache.search("RefreshToken", target=["USER.READ"], query={"environment": HOST}))
    assert secrets(rts) == ["user-rt"]


def test_find_is_deprecated():
    cache = user_cache()
    with pytest.warns(DeprecationWarning, match="search"):
        found = cache.find(AT, target=["User.Read"], query=at_query(), now=NOW)
    assert secrets(found) == ["user-at"]


def test_lock_is_not_held_while_the_consumer_iterates():
    cache = TokenCache()
    for i in range(3):
        cache.add(client_credentials_event([f"s{i}", "shared"], access_token=f"at{i}"), now=NOW)
    finished = []
    for entry in cache.search(AT, target=["shared"], query=at_query(None), now=NOW):
        writer = threading.Thread(
            target=lambda: (cache.add(client_credentials_event(["x"]), now=NOW), finished.append(1))
        )
        writer.start()
        writer.join(timeout=5)
        assert not writer.is_alive()
        cache.remove_at(entry)  # Removing while iterating is safe as well.
    assert len(finished) == 3
    assert list(cache.search(AT, target=["shared"], query=at_query(None), now=NOW)) == []


def test_search_is_lazy_like_msal():
    cache = user_cache()
    generator = cache.search(AT, target=["User.Read"], query=at_query(), now=NOW)
    cache.add(user_event(uid="oid1", access_token="replaced"), now=NOW)
    assert secrets(generator) == ["replaced"]


def test_indexed_helpers():
    cache = TokenCache()
    cache.add(user_event(foci="1"), now=NOW)
    cache.add(user_event(tenant="guest-tenant", access_token="guest-at"), now=NOW)
    cache.add(user_event(client_id="other", access_token="other-at", refresh_token="o"), now=NOW)
    cache.add(user_event(access_token="pop", data={"key_id": "k"}, granted="x"), now=NOW)
    cache.add(user_event(uid="oid2", username="Bob@Contoso.com", access_token="bob"), now=NOW)
    cache.add(client_credentials_event(access_token="app"), now=NOW)
    cache.add(client_credentials_event(["a"], access_token="app-a", tenant="t2"), now=NOW)
    cache.add(client_credentials_event(access_token="app-fmi", data={"fmi_path": "p"}), now=NOW)
    cache.add(client_credentials_event(client_id="other", access_token="app-other"), now=NOW)

    assert len(cache._accounts(HOST)) == 3
    assert len(cache._accounts(HOST.upper())) == 3
    assert len(cache._accounts(None)) == 3
    assert cache._accounts("login.windows.net") == []
    bob = cache._accounts(HOST, username="bob@contoso.COM")
    assert [a["home_account_id"] for a in bob] == ["oid2.tid"]
    alice = cache._accounts(None, "alice@contoso.com")
    assert sorted(a["realm"] for a in alice) == ["guest-tenant", "tid"]

    owned = cache._entries_of_account(USER_HOME, HOST)
    assert sorted(secrets(owned[AT])) == ["guest-at", "other-at", "pop", "user-at"]
    assert sorted(secrets(owned["RefreshToken"])) == ["o", "user-rt", "user-rt"]  # 2 targets
    assert len(owned["IdToken"]) == 3
    assert sorted(a["realm"] for a in owned["Account"]) == ["guest-tenant", "tid"]
    assert all(not v for v in cache._entries_of_account("nobody", HOST).values())

    assert sorted(secrets(cache._app_access_tokens("cid", HOST))) == ["app", "app-a", "app-fmi"]
    assert secrets(cache._app_access_tokens("other", HOST.upper())) == ["app-other"]
    assert cache._app_access_tokens("cid", "elsewhere") == []

    assert cache._get_app_metadata(HOST, "cid") == {"client_id": "cid", "environment": HOST}
    assert cache._get_app_metadata(HOST, "nope", default={}) == {}


class CountingDict(dict):  # type: ignore[type-arg]
    """A section that counts how many entries a lookup touched."""

    touched = 0
    scanned = 0

    def get(self, key, default=None):
        CountingDict.touched += 1
        return super().get(key, default)

    def __getitem__(self, key):
        CountingDict.touched += 1
        return super().__getitem__(key)

    def items(self):
        CountingDict.scanned += 1
        return super().items()

    def values(self):
        CountingDict.scanned += 1
        return super().values()

    def __iter__(self):
        CountingDict.scanned += 1
        return super().__iter__()


@functools.cache
def big_state(n: int) -> dict[str, Any]:
    """n ATs: app tokens of many resources, plus users of the same client and realm."""
    cache = TokenCache()
    for i in range(n):
        cache.add(client_credentials_event([f"api://r{i}/.default"], access_token=f"a{i}"), now=NOW)
        cache.add(user_event(uid=f"u{i}", access_token=f"u{i}"), now=NOW)
    cache.add(user_event(granted="User.Read Mail.Read email openid profile", access_token="t"), NOW)
    return cache._cache


@pytest.mark.parametrize(
    ("scopes", "home", "expected"),
    [
        (["User.Read"], "oid1.tid", ["t"]),
        (["Mail.Read"], "oid1.tid", ["t"]),
        (["Mail.Send"], "oid1.tid", []),
        (["api://r77/.default"], None, ["a77"]),
        (["api://R77/.default"], None, ["a77"]),
        (["api://missing/.default"], None, []),
    ],
)
def test_lookups_touch_a_constant_number_of_entries(scopes, home, expected):
    cache = TokenCache()
    cache._cache = {k: CountingDict(v) for k, v in big_state(2000).items()}
    list(cache.search(AT, query={"realm": "warm-up"}, now=NOW))  # Re-indexes once.
    CountingDict.touched = CountingDict.scanned = 0
    found = search_at(cache, scopes, home_account_id=home)
    assert found == expected
    assert CountingDict.scanned == 0
    assert CountingDict.touched <= 3


def test_account_and_refresh_token_lookups_are_indexed():
    cache = TokenCache()
    cache._cache = {k: CountingDict(v) for k, v in big_state(2000).items()}
    list(cache.search(AT, query={"realm": "warm-up"}, now=NOW))
    assert cache._store.indices  # each section's index is built on its own first lookup
    CountingDict.touched = CountingDict.scanned = 0
    owned = {"environment": HOST, "home_account_id": "u5.tid"}
    assert secrets(cache.search("RefreshToken", query=dict(owned, client_id="cid"))) == ["user-rt"]
    assert len(list(cache.search("Account", query=owned))) == 1
    assert len(cache._accounts(HOST, "alice@contoso.com")) == 2001
    CountingDict.touched = 0
    removed = cache._entries_of_account("u5.tid", HOST)
    assert [len(v) for v in removed.values()] == [1, 1, 1, 1]
    assert len(cache._app_access_tokens("cid", HOST)) == 2000
    assert CountingDict.scanned == 0
    assert CountingDict.touched <= 2000 + 4


def test_the_index_answers_environments_given_in_any_sequence():
    """Which environments may hold a matching token: asked with a tuple (its folding
    remembered), a list, or a tuple holding an unhashable value, compared lower-cased,
    with the requested scopes as a request gives them or as a set, alike."""
    cache = TokenCache()
    cache.add(client_credentials_event(["api://one/.default"]), now=NOW)
    index = cache._store.indices["AccessToken"].access_tokens
    assert index is not None
    query = {"client_id": "cid"}
    wanted = ["API://One/.default"]
    for environments in ((HOST.upper(), "other"), [HOST.upper(), "other"]):
        assert index.environments_that_may_match(query, wanted, environments) == [HOST.upper()]
    assert index.environments_that_may_match(query, wanted, (["x"], HOST)) == [HOST]
    assert index.environments_that_may_match(query, frozenset(["api://one/.default"]), (HOST,))
    assert index.environments_that_may_match(query, ["api://two/.default"], (HOST,)) == []
    assert index.environments_that_may_match(query, [3, *wanted], (HOST,)) == [HOST]
