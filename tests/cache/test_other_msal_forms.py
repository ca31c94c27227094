"""The cache layer's reading of msal-node's and MSAL.NET's forms (``_cache/_forms.py``):
indexed lookups, isolation of their bound tokens, removal under their keys, rotation of
their refresh tokens into msal Python's form."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from identitylib._cache import SerializableTokenCache, TokenCache
from identitylib._cache._forms import access_tokens_in_forms, canonical_refresh_token
from tests._other_msals import cache_json, dotnet_app_token, node_app_token, node_key

from ._builders import GRAPH_DEFAULT, HOST, NOW, client_credentials_event, user_event
from .test_search import CountingDict, big_state

AT = "AccessToken"
ENVIRONMENTS = (HOST, "login.windows.net", "login.microsoft.com", "sts.windows.net")
APP_QUERY = {"client_id": "cid", "home_account_id": None}


def loaded(*entries: tuple[str, dict[str, Any]]) -> SerializableTokenCache:
    cache = SerializableTokenCache()
    cache.deserialize(cache_json(*entries))
    return cache


def secrets(entries: Any) -> list[str]:
    return [entry["secret"] for entry in entries]


def app_tokens(cache: TokenCache, realms: tuple[str, ...] = ("tid",)) -> list[str]:
    return secrets(access_tokens_in_forms(cache, [GRAPH_DEFAULT], APP_QUERY, ENVIRONMENTS, realms))


def their_app_token(writer: Any, **fields: Any) -> tuple[str, dict[str, Any]]:
    values = {
        "environment": "login.windows.net",
        "client_id": "cid",
        "tenant": "tid",
        "target": GRAPH_DEFAULT,
        "secret": "theirs",
    }
    values.update(fields)
    return writer(**values)  # type: ignore[no-any-return]


@pytest.mark.parametrize("writer", [node_app_token, dotnet_app_token])
def test_app_tokens_in_their_forms_are_found(writer: Any) -> None:
    cache = loaded(their_app_token(writer))
    assert app_tokens(cache) == ["theirs"]
    assert app_tokens(loaded(their_app_token(writer, tenant="Contoso.com")), ("contoso.com",)) == (
        ["theirs"] if writer is node_app_token else []  # MSAL.NET keeps the case as written
    )
    assert app_tokens(cache, ("other-tenant",)) == []
    # A user's token is never an app token, whatever the form of "no home account".
    key, entry = their_app_token(writer)
    entry["home_account_id"] = "uid.utid"
    assert app_tokens(loaded((key, entry))) == []


@pytest.mark.parametrize(
    ("writer", "binding"),
    [
        (node_app_token, {"requestedClaimsHash": "hash", "requestedClaims": '{"x":1}'}),
        (dotnet_app_token, {"kid": "key-1"}),
        (dotnet_app_token, {"ext": {"fmi_path": "a/b"}}),
    ],
)
def test_their_bound_tokens_are_never_served_to_a_plain_lookup(
    writer: Any, binding: dict[str, Any]
) -> None:
    # In msal Python's very position (environment, realm, home account): only the binding
    # field tells the token apart, and msal Python would serve it.
    key, entry = their_app_token(writer, environment=HOST, **binding)
    entry["home_account_id"] = None
    cache = loaded((key, entry))
    query = {**APP_QUERY, "environment": HOST, "realm": "tid"}
    assert list(cache.search(AT, target=[GRAPH_DEFAULT], query=query)) == []
    assert app_tokens(cache) == []
    assert list(cache.search(AT, query={"client_id": "cid"})) == []


def test_lookup_in_their_forms_touches_a_constant_number_of_entries() -> None:
    cache = TokenCache()
    state = {name: CountingDict(section) for name, section in big_state(2000).items()}
    key, entry = their_app_token(node_app_token, target="api://r77/.default", secret="node-77")
    state[AT][key] = entry
    cache._cache = state
    list(cache.search(AT, query={"realm": "warm-up"}, now=NOW))  # Re-indexes once.
    CountingDict.touched = CountingDict.scanned = 0
    found = access_tokens_in_forms(
        cache, ["api://r77/.default"], APP_QUERY, ENVIRONMENTS, ("tid", "TID"), now=NOW
    )
    assert sorted(secrets(found)) == ["a77", "node-77"]
    assert CountingDict.scanned == 0
    assert CountingDict.touched <= 4


def test_entries_under_their_keys_are_removed() -> None:
    cache = SerializableTokenCache()
    cache.add(user_event(), now=int(time.time()))
    ours = json.loads(cache.serialize())
    # The same entries under msal-node's keys (which differ from msal Python's).
    home, env = "oid1.tid", HOST
    theirs = {
        "AccessToken": {
            node_key(home, env, "AccessToken", "cid", "tid", "x", "", ""): entry
            for entry in ours["AccessToken"].values()
        },
        "RefreshToken": {
            node_key(home, env, "RefreshToken", "1", "", "", "", ""): entry
            for entry in ours["RefreshToken"].values()
        },
        "IdToken": {
            node_key(home, env, "IdToken", "cid", "tid", "", "", ""): entry
            for entry in ours["IdToken"].values()
        },
        "Account": {node_key(home, env, "tid", "node"): e for e in ours["Account"].values()},
    }
    cache.deserialize(json.dumps(theirs))
    [at] = cache.search(AT, query={"home_account_id": home})
    [rt] = cache.search("RefreshToken", query={"home_account_id": home})
    [idt] = cache.search("IdToken", query={"home_account_id": home})
    [account] = cache.search("Account", query={"home_account_id": home})
    cache.remove_at(at)
    cache.remove_rt(dict(rt))  # a copy, as the flows pass
    cache.remove_idt(idt)
    cache.remove_account(account)
    assert cache.has_state_changed
    left = json.loads(cache.serialize())
    assert {name: section for name, section in left.items() if section} == {}


def test_their_refresh_token_is_rotated_into_msal_pythons_form() -> None:
    node_rt = {
        "home_account_id": "uid.utid",
        "environment": "localhost:8443",
        "credential_type": "RefreshToken",
        "client_id": "cid",
        "secret": "rt",
        "family_id": "1",
        "expires_on": "123",  # newer msal-node versions keep one
        "userAssertionHash": "h",
    }
    canonical = canonical_refresh_token(node_rt, "localhost")
    assert canonical == {
        "home_account_id": "uid.utid",
        "environment": "localhost",
        "credential_type": "RefreshToken",
        "client_id": "cid",
        "secret": "rt",
        "family_id": "1",
        "target": "",
    }
    ours = {**node_rt, "environment": "localhost"}
    assert canonical_refresh_token(ours, "localhost") == ours
    cache = SerializableTokenCache()
    cache.update_rt(canonical, "new-rt")
    [stored] = json.loads(cache.serialize())["RefreshToken"].items()
    assert stored[0] == "uid.utid-localhost-refreshtoken-cid--"  # msal Python's key
    assert stored[1]["secret"] == "new-rt"


def test_canonical_writes_are_unchanged() -> None:
    cache = SerializableTokenCache()
    cache.add(client_credentials_event(), now=NOW)
    [entry] = json.loads(cache.serialize())["AccessToken"].values()
    assert entry["home_account_id"] is None
    assert entry["environment"] == HOST
