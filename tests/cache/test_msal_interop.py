"""Round trips with the real msal 1.39 package, in both directions."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from identitylib._cache import SerializableTokenCache, assertion_hash
from tests._servers import require_module

from ._builders import (
    CLIENT_ID,
    GRAPH_DEFAULT,
    HOST,
    NOW,
    TENANT,
    client_credentials_event,
    client_info,
    id_token,
    user_event,
)

msal = require_module("msal")
pytestmark = [
    pytest.mark.msal,
    pytest.mark.filterwarnings("ignore:Change your acquire_token_by_authorization_code"),
]

AUTHORITY = f"https://{HOST}/{TENANT}"
USER_SCOPES = ["User.Read"]


class FakeResponse:
    def __init__(self, body: dict[str, Any], status_code: int = 200) -> None:
        self.status_code = status_code
        self.text = json.dumps(body)
        self.headers: dict[str, str] = {}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class FakeHttp:
    """Answers OIDC discovery; answers token POSTs from a queue, or fails the test.

    Kept (not the emulator): msal's own application objects drive the cache under test
    through this in-memory transport, with token responses of chosen values (the builders'
    client, tenant, account, scopes and ``foci``) that no real server issues, so that the
    caches both libraries write are compared entry by entry and query by query.
    """

    def __init__(self, *token_responses: dict[str, Any]) -> None:
        self.token_responses = list(token_responses)
        self.posts: list[dict[str, Any]] = []

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> FakeResponse:
        assert url.endswith("/v2.0/.well-known/openid-configuration"), url
        base = url.split("/v2.0/")[0]
        return FakeResponse(
            {
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
            }
        )

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> FakeResponse:
        if not self.token_responses:
            pytest.fail(f"unexpected token request to {url}")
        body = data if isinstance(data, dict) else parse_qs(data or "")
        self.posts.append(body)
        return FakeResponse(self.token_responses.pop(0))

    def close(self) -> None:
        pass


def app_response(access_token: str = "app-at") -> dict[str, Any]:
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
    }


def user_response(access_token: str = "user-at", refresh_token: str = "user-rt") -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "scope": "User.Read email openid profile",
        "expires_in": 3600,
        "ext_expires_in": 3600,
        "access_token": access_token,
        "refresh_token": refresh_token,
        "id_token": id_token(
            sub="sub1",
            oid="oid1",
            tid=TENANT,
            preferred_username="alice@contoso.com",
            aud=CLIENT_ID,
            iss=f"{AUTHORITY}/v2.0",
        ),
        "client_info": client_info(),
        "foci": "1",
    }


def confidential_app(cache: Any, http: FakeHttp) -> Any:
    return msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential="secret",
        authority=AUTHORITY,
        token_cache=cache,
        http_client=http,
        instance_discovery=False,
    )


def public_app(cache: Any, http: FakeHttp) -> Any:
    return msal.PublicClientApplication(
        CLIENT_ID,
        authority=AUTHORITY,
        token_cache=cache,
        http_client=http,
        instance_discovery=False,
    )


def canonical(entries: Any) -> list[str]:
    return sorted(json.dumps(entry, sort_keys=True) for entry in entries)


QUERIES = [
    (
        "AccessToken",
        [GRAPH_DEFAULT],
        {"client_id": CLIENT_ID, "environment": HOST, "realm": TENANT, "home_account_id": None},
    ),
    (
        "AccessToken",
        ["User.Read"],
        {
            "client_id": CLIENT_ID,
            "environment": HOST,
            "realm": TENANT,
            "home_account_id": "oid1.tid",
        },
    ),
    (
        "AccessToken",
        ["email", "User.Read"],
        {
            "client_id": CLIENT_ID,
            "environment": HOST,
            "realm": TENANT,
            "home_account_id": "oid1.tid",
        },
    ),
    ("AccessToken", None, {"environment": HOST, "home_account_id": "oid1.tid"}),
    ("AccessToken", None, {"client_id": CLIENT_ID, "environment": HOST, "home_account_id": None}),
    ("RefreshToken", None, {"environment": HOST, "home_account_id": "oid1.tid", "family_id": "1"}),
    (
        "RefreshToken",
        None,
        {"environment": HOST, "home_account_id": "oid1.tid", "client_id": CLIENT_ID},
    ),
    ("IdToken", None, {"environment": HOST, "home_account_id": "oid1.tid"}),
    ("Account", None, {"environment": HOST}),
    ("AppMetadata", None, {"environment": HOST, "client_id": CLIENT_ID}),
    ("AccessToken", None, None),
]


def assert_same_search_results(theirs: Any, ours: SerializableTokenCache) -> None:
    for kind, target, query in QUERIES:
        expected = canonical(theirs.search(kind, target=target, query=query))
        assert expected, (kind, query)
        assert canonical(ours.search(kind, target=target, query=query)) == expected, (kind, query)


EVENTS = [
    client_credentials_event(),
    client_credentials_event(["api://a/.default"], tenant="other", expires_in="599"),
    client_credentials_event(["ssh"], data={"key_id": "kid", "token_type": "ssh-cert"}),
    client_credentials_event(["fmi"], data={"fmi_path": "SomePath/x"}),
    user_event(foci="1"),
    user_event(uid="oid2", grant_type="password", _account_id="oid2", username="x"),
    user_event(uid="oid3", grant_type="refresh_token", granted="User.Read Mail.Read"),
    dict(user_event(uid="oid4", tenant="adfs"), authority_type="ADFS"),
    {
        "client_id": "SYSTEM_ASSIGNED_MANAGED_IDENTITY",
        "scope": ["https://management.azure.com"],
        "token_endpoint": "https://localhost/managed_identity",
        "response": {
            "access_token": "mi",
            "expires_in": 86400,
            "refresh_in": 43200,
            "token_type": "Bearer",
        },
        "params": {},
        "data": {},
    },
]


def test_add_writes_the_same_json_as_msal():
    theirs, ours = msal.SerializableTokenCache(), SerializableTokenCache()
    for event in EVENTS:
        theirs.add(json.loads(json.dumps(event)), now=1_700_000_000)
        ours.add(json.loads(json.dumps(event)), now=1_700_000_000)
    assert json.loads(ours.serialize()) == json.loads(theirs.serialize())


@pytest.mark.parametrize(
    ("target", "home", "moment"),
    [
        (["s1"], None, 100),  # the exact key of an expired AT: yielded, as msal does
        (None, None, 100),  # no target: no exact key, expired ATs are not yielded
        (["s2"], None, 100),  # the exact key of nothing, a subset of the long AT's scopes
        (["s1"], None, 10),  # at its expiry second, still yielded
        (["s1"], None, 11),
        (None, None, 10),
        (None, None, 11),
        (["s1"], "oid1.tid", 100),  # the exact key of nothing
    ],
)
def test_search_judges_expiry_as_msal_does(target: Any, home: Any, moment: int) -> None:
    """search() is msal's raw query: the same entries, expired or not, the exact-key one
    first; an expired AT the query leads to is gone afterwards in both. (msal scans in
    insertion order and purges every expired AT of the section; identitylib reads its
    indices, so the other entries come in another order and only those the query leads to
    are purged.)"""
    events = [
        client_credentials_event(["s1"], access_token="short", expires_in=10),
        client_credentials_event(["s1", "s2"], access_token="long"),
    ]
    found, left = [], []
    for cache in (msal.SerializableTokenCache(), SerializableTokenCache()):
        for event in events:
            cache.add(json.loads(json.dumps(event)), now=NOW)
        query = {"client_id": CLIENT_ID, "environment": HOST, "realm": TENANT}
        query["home_account_id"] = home
        entries = cache.search("AccessToken", target=target, query=query, now=NOW + moment)
        found.append([entry["secret"] for entry in entries])
        left.append(sorted(entry["secret"] for entry in cache._cache["AccessToken"].values()))
    theirs, ours = found
    assert sorted(ours) == sorted(theirs)
    leads_to_short = home is None and target in (None, ["s1"])
    if leads_to_short:
        assert left[1] == left[0]
    if leads_to_short and target:
        assert ours[0] == theirs[0] == "short"


OBO_QUERIES = [
    None,
    {},
    {"client_id": CLIENT_ID},
    {"client_id": CLIENT_ID, "environment": HOST},
    {"client_id": CLIENT_ID, "environment": HOST, "realm": TENANT},
    {"environment": HOST, "home_account_id": "oid1.tid"},
]


@pytest.mark.parametrize("query", OBO_QUERIES, ids=repr)
def test_search_finds_on_behalf_of_tokens_as_msal_does(query: Any) -> None:
    """Queries naming no home account (none at all, only client_id) find the ATs obtained
    on behalf of a user, as msal's search of the same cache content does."""
    ours = SerializableTokenCache()
    hashed = assertion_hash("incoming-assertion")
    ours.add(user_event(access_token="obo-at", user_assertion_hash=hashed), now=NOW)
    ours.add(user_event(uid="oid2", access_token="plain-at"), now=NOW)
    ours.add(client_credentials_event(), now=NOW)
    theirs = msal.SerializableTokenCache()
    theirs.deserialize(ours.serialize())
    expected = canonical(theirs.search("AccessToken", query=query, now=NOW))
    assert any('"obo-at"' in entry for entry in expected), expected
    assert canonical(ours.search("AccessToken", query=query, now=NOW)) == expected


def test_app_token_queries_still_skip_on_behalf_of_tokens() -> None:
    """A query for app tokens (home_account_id None) never finds an OBO token, even one
    obtained without knowing its user (stricter than msal: docs/migrating.md)."""
    ours = SerializableTokenCache()
    hashed = assertion_hash("incoming-assertion")
    orphan = user_event(access_token="orphan-obo-at", user_assertion_hash=hashed)
    del orphan["response"]["id_token"], orphan["response"]["client_info"]
    ours.add(orphan, now=NOW)
    ours.add(client_credentials_event(), now=NOW)
    query = {"client_id": CLIENT_ID, "environment": HOST, "home_account_id": None}
    found = [entry["secret"] for entry in ours.search("AccessToken", query=query, now=NOW)]
    assert found == ["app-at"]
    assert [e["secret"] for e in ours.search("AccessToken", now=NOW)].count("orphan-obo-at") == 1


def run_msal_flows(cache: Any) -> None:
    http = FakeHttp(app_response(), user_response(), user_response("at-2", "rt-2"))
    cca = confidential_app(cache, http)
    assert cca.acquire_token_for_client([GRAPH_DEFAULT])["access_token"] == "app-at"
    result = cca.acquire_token_by_authorization_code(
        "code", USER_SCOPES, redirect_uri="http://localhost"
    )
    assert result["access_token"] == "user-at"
    (account,) = cca.get_accounts()
    refreshed = cca.acquire_token_silent(USER_SCOPES, account, force_refresh=True)
    assert refreshed["access_token"] == "at-2"
    assert http.posts[-1]["grant_type"] in ("refresh_token", ["refresh_token"])


def test_msal_cache_deserializes_into_ours_with_the_same_search_results():
    theirs = msal.SerializableTokenCache()
    run_msal_flows(theirs)
    state = theirs.serialize()
    rts = json.loads(state)["RefreshToken"]
    assert [rt["secret"] for rt in rts.values()] == ["rt-2"]  # Rotated in place by msal.
    ours = SerializableTokenCache()
    ours.deserialize(state)
    assert ours._cache == json.loads(state)
    assert_same_search_results(theirs, ours)


def test_msal_apps_work_with_our_cache_object():
    ours = SerializableTokenCache()
    run_msal_flows(ours)  # msal drives our add/update_rt/search.
    rts = ours._cache["RefreshToken"]
    assert [rt["secret"] for rt in rts.values()] == ["rt-2"]
    theirs = msal.SerializableTokenCache()
    theirs.deserialize(ours.serialize())
    assert_same_search_results(theirs, ours)
    cca = confidential_app(ours, FakeHttp())
    assert cca.acquire_token_for_client([GRAPH_DEFAULT])["token_source"] == "cache"
    (account,) = cca.get_accounts(username="ALICE@contoso.com")
    cca.remove_account(account)
    assert cca.get_accounts() == []
    assert ours._entries_of_account("oid1.tid", HOST)["RefreshToken"] == []
    cca.remove_tokens_for_client()
    assert ours._app_access_tokens(CLIENT_ID, HOST) == []


def test_our_cache_serialized_is_served_by_msal_without_network():
    ours = SerializableTokenCache()
    ours.add(client_credentials_event(access_token="our-app-at"))
    ours.add(user_event(foci="1", access_token="our-user-at"))
    theirs = msal.SerializableTokenCache()
    theirs.deserialize(ours.serialize())

    cca = confidential_app(theirs, FakeHttp())  # Any token POST fails the test.
    app_result = cca.acquire_token_for_client([GRAPH_DEFAULT])
    assert app_result["access_token"] == "our-app-at"
    assert app_result["token_source"] == "cache"

    pca = public_app(theirs, FakeHttp())
    (account,) = pca.get_accounts()
    assert account["home_account_id"] == "oid1.tid"
    assert account["username"] == "alice@contoso.com"
    user_result = pca.acquire_token_silent(USER_SCOPES, account)
    assert user_result["access_token"] == "our-user-at"
    assert user_result["token_source"] == "cache"


def test_msal_refreshes_with_our_refresh_token():
    ours = SerializableTokenCache()
    ours.add(user_event(foci="1", expires_in=10, refresh_token="our-rt"))
    theirs = msal.SerializableTokenCache()
    theirs.deserialize(ours.serialize())
    http = FakeHttp(user_response("fresh-at", "fresh-rt"))
    pca = public_app(theirs, http)
    (account,) = pca.get_accounts()
    assert pca.acquire_token_silent(USER_SCOPES, account)["access_token"] == "fresh-at"
    assert http.posts[0]["refresh_token"] in ("our-rt", ["our-rt"])
