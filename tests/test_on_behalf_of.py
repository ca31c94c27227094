"""acquire_token_on_behalf_of: request shape, per-assertion caching, refresh with the OBO
refresh token, claims challenges, partition keys, argument checks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import responses

from identitylib import CacheAccess, ConfidentialClientApplication, SerializableTokenCache
from identitylib._cache import assertion_hash, obo_partition_key
from identitylib._flows.on_behalf_of import find_obo_refresh_token

from .conftest import CLIENT_ID, TENANT, add_discovery
from .test_silent_support import (
    AUTHORITY,
    HOME_ACCOUNT_ID,
    HOST,
    TOKEN_ENDPOINT,
    body_of,
    oauth_error,
    token_posts,
    user_token,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ALICE_ASSERTION = "eyJ0eXAiOiJKV1QifQ.alice-incoming-token.sig"
BOB_ASSERTION = "eyJ0eXAiOiJKV1QifQ.bob-incoming-token.sig"
BOB_UID = "0a1b2c3d-0000-4000-8000-0000000000b0"
GRAPH = ["https://graph.microsoft.com/User.Read"]
GRAPH_SCOPE = "https://graph.microsoft.com/User.Read openid profile email"


def obo_token(
    access_token: str = "obo-at-1", refresh_token: str | None = "obo-rt-1", **kw: Any
) -> dict[str, Any]:
    kw.setdefault("scope", GRAPH_SCOPE)
    return user_token(access_token, refresh_token, **kw)


def make_app(**kwargs: Any) -> ConfidentialClientApplication:
    kwargs.setdefault("authority", AUTHORITY)
    kwargs.setdefault("token_cache", SerializableTokenCache())
    return ConfidentialClientApplication(CLIENT_ID, "s3cret", **kwargs)


@pytest.fixture
def discovered(http: responses.RequestsMock) -> responses.RequestsMock:
    add_discovery(http)
    return http


def section(app: ConfidentialClientApplication, name: str) -> list[dict[str, Any]]:
    return list(app.token_cache._cache.get(name, {}).values())


def set_expiry(app: ConfidentialClientApplication, seconds_left: int, **more: str) -> None:
    for entry in section(app, "AccessToken"):
        changes = {"expires_on": str(int(time.time()) + seconds_left), **more}
        app.token_cache.modify("AccessToken", entry, changes)


# ---------------------------------------------------------------- the request


def test_request_shape_and_result(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    result = make_app().acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert result["access_token"] == "obo-at-1"
    assert result["token_source"] == "identity_provider"
    assert result["id_token_claims"]["aud"] == CLIENT_ID
    (post,) = token_posts(discovered)
    assert body_of(post) == {
        "grant_type": JWT_BEARER,
        "client_id": CLIENT_ID,
        "assertion": ALICE_ASSERTION,
        "requested_token_use": "on_behalf_of",
        "scope": "https://graph.microsoft.com/User.Read offline_access openid profile",
        "client_info": "1",
        "client_secret": "s3cret",
    }
    assert post.request.headers["client-request-id"]


def test_tokens_are_cached_bound_to_the_assertion(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    (at,) = section(app, "AccessToken")
    (rt,) = section(app, "RefreshToken")
    hashed = assertion_hash(ALICE_ASSERTION)
    assert at["user_assertion_hash"] == rt["user_assertion_hash"] == hashed
    assert (at["environment"], at["realm"], at["home_account_id"]) == (
        HOST,
        TENANT,
        HOME_ACCOUNT_ID,
    )
    assert rt["secret"] == "obo-rt-1"
    # As in msal, the user becomes an account of the middle-tier app.
    assert [a["home_account_id"] for a in app.get_accounts()] == [HOME_ACCOUNT_ID]


def test_exclude_scopes_and_capabilities(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app(exclude_scopes=["offline_access"], client_capabilities=["CP1"])
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    body = body_of(token_posts(discovered)[0])
    assert body["scope"] == "https://graph.microsoft.com/User.Read openid profile"
    assert json.loads(body["claims"]) == {"access_token": {"xms_cc": {"values": ["CP1"]}}}


def test_extra_data_cannot_replace_the_grant(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    make_app().acquire_token_on_behalf_of(
        ALICE_ASSERTION,
        GRAPH,
        data={"grant_type": "password", "assertion": "forged", "extra_field": "x"},
        headers={"x-custom": "1"},
    )
    post = token_posts(discovered)[0]
    body = body_of(post)
    assert (body["grant_type"], body["assertion"], body["extra_field"]) == (
        JWT_BEARER,
        ALICE_ASSERTION,
        "x",
    )
    assert post.request.headers["x-custom"] == "1"


# ---------------------------------------------------------------- the cache


def test_repeat_call_is_served_from_the_cache(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    calls = len(discovered.calls)
    again = app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert len(discovered.calls) == calls
    assert again["access_token"] == "obo-at-1"
    assert set(again) == {"access_token", "token_type", "expires_in", "token_source"}
    assert again["token_source"] == "cache"
    # A subset of the granted scopes is a hit too.
    subset = app.acquire_token_on_behalf_of(
        ALICE_ASSERTION, ["https://graph.microsoft.com/user.read"]
    )
    assert subset["token_source"] == "cache"


def test_a_new_app_object_on_the_same_cache_hits_without_any_request(
    discovered: responses.RequestsMock,
) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    first = make_app()
    first.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    blob = first.token_cache.serialize()
    cache = SerializableTokenCache()
    cache.deserialize(blob)
    calls = len(discovered.calls)
    result = make_app(token_cache=cache).acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert result["token_source"] == "cache"
    assert len(discovered.calls) == calls  # a GUID tenant: not even discovery


def test_other_assertions_never_get_these_tokens(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["access_token"] == "obo-at-1"
    discovered.upsert(
        responses.POST, TOKEN_ENDPOINT, json=obo_token("bob-at", "bob-rt", uid=BOB_UID)
    )
    bob = app.acquire_token_on_behalf_of(BOB_ASSERTION, GRAPH)
    assert bob["access_token"] == "bob-at"
    assert bob["token_source"] == "identity_provider"
    assert body_of(token_posts(discovered)[-1])["assertion"] == BOB_ASSERTION
    calls = len(discovered.calls)
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["access_token"] == "obo-at-1"
    assert app.acquire_token_on_behalf_of(BOB_ASSERTION, GRAPH)["access_token"] == "bob-at"
    assert len(discovered.calls) == calls
    # Neither is a plain user token: silent lookups without the assertion skip them.
    assert section(app, "AccessToken")[0]["user_assertion_hash"]


def test_a_new_assertion_of_the_same_user_asks_the_server(
    discovered: responses.RequestsMock,
) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=obo_token("obo-at-2", "obo-rt-2"))
    newer = "eyJ0eXAiOiJKV1QifQ.alice-newer-token.sig"
    result = app.acquire_token_on_behalf_of(newer, GRAPH)
    assert result["access_token"] == "obo-at-2"
    post = token_posts(discovered)[-1]
    assert body_of(post)["grant_type"] == JWT_BEARER
    assert body_of(post)["assertion"] == newer


def test_expired_token_is_renewed_with_the_assertions_refresh_token(
    discovered: responses.RequestsMock,
) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    set_expiry(app, -30)  # expired
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=obo_token("obo-at-2", "obo-rt-2"))
    result = app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert result["access_token"] == "obo-at-2"
    assert result["token_source"] == "identity_provider"
    post = token_posts(discovered)[-1]
    body = body_of(post)
    assert body["grant_type"] == "refresh_token"
    assert body["refresh_token"] == "obo-rt-1"
    assert "assertion" not in body
    assert post.request.headers["X-AnchorMailbox"] == "Oid:" + HOME_ACCOUNT_ID.replace(".", "@")
    # The RT was rotated in place, still bound to the assertion; the new AT is too.
    (rt,) = section(app, "RefreshToken")
    assert rt["secret"] == "obo-rt-2"
    assert rt["user_assertion_hash"] == assertion_hash(ALICE_ASSERTION)
    (at,) = section(app, "AccessToken")
    assert at["secret"] == "obo-at-2"
    assert at["user_assertion_hash"] == assertion_hash(ALICE_ASSERTION)
    calls = len(discovered.calls)
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["token_source"] == "cache"
    assert len(discovered.calls) == calls


def test_token_inside_the_expiry_margin_is_renewed(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    set_expiry(app, 60)  # less than 300 s left
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=obo_token("obo-at-2", "obo-rt-2"))
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["access_token"] == "obo-at-2"
    assert body_of(token_posts(discovered)[-1])["grant_type"] == "refresh_token"


def test_other_scopes_for_the_same_assertion_use_its_refresh_token(
    discovered: responses.RequestsMock,
) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    mail = obo_token("mail-at", "obo-rt-2", scope="https://graph.microsoft.com/Mail.Read openid")
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=mail)
    result = app.acquire_token_on_behalf_of(
        ALICE_ASSERTION, ["https://graph.microsoft.com/Mail.Read"]
    )
    assert result["access_token"] == "mail-at"
    body = body_of(token_posts(discovered)[-1])
    assert body["grant_type"] == "refresh_token"
    assert "Mail.Read" in body["scope"]


def test_failed_refresh_falls_back_to_the_assertion(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    set_expiry(app, -30)
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=oauth_error("invalid_grant"), status=400)
    discovered.add(responses.POST, TOKEN_ENDPOINT, json=obo_token("obo-at-3", "obo-rt-3"))
    result = app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert result["access_token"] == "obo-at-3"
    grants = [body_of(p)["grant_type"] for p in token_posts(discovered)]
    assert grants[-2:] == ["refresh_token", JWT_BEARER]


def test_aging_token_is_refreshed_and_served_when_refresh_fails(
    discovered: responses.RequestsMock,
) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app(background_refresh=False)  # the refresh in the call itself
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    set_expiry(app, 3000, refresh_on=str(int(time.time()) - 1))
    discovered.upsert(
        responses.POST, TOKEN_ENDPOINT, json=oauth_error("temporarily_unavailable"), status=400
    )
    result = app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert result["access_token"] == "obo-at-1"
    assert result["token_source"] == "cache"
    assert body_of(token_posts(discovered)[-1])["grant_type"] == "refresh_token"
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, body=requests.ConnectionError("down"))
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["access_token"] == "obo-at-1"
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=obo_token("obo-at-2", "obo-rt-2"))
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["access_token"] == "obo-at-2"


def test_aging_token_without_a_refresh_token_is_served_when_the_exchange_fails(
    discovered: responses.RequestsMock,
) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token(refresh_token=None))
    app = make_app(background_refresh=False)
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert section(app, "RefreshToken") == []
    set_expiry(app, 3000, refresh_on=str(int(time.time()) - 1))
    discovered.upsert(
        responses.POST, TOKEN_ENDPOINT, json=oauth_error("temporarily_unavailable"), status=400
    )
    result = app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert (result["access_token"], result["token_source"]) == ("obo-at-1", "cache")
    assert body_of(token_posts(discovered)[-1])["grant_type"] == JWT_BEARER
    posts = len(token_posts(discovered))
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, body=requests.ConnectionError("down"))
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["access_token"] == "obo-at-1"
    assert len(token_posts(discovered)) > posts  # the exchange was tried and failed
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=obo_token("obo-at-2", None))
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["access_token"] == "obo-at-2"


def test_transport_failure_without_a_cached_token_raises(
    discovered: responses.RequestsMock,
) -> None:
    discovered.post(TOKEN_ENDPOINT, body=requests.ConnectionError("down"))
    with pytest.raises(requests.ConnectionError):
        make_app().acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)


def test_claims_challenge_bypasses_the_cache(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app(client_capabilities=["cp1"])
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=obo_token("obo-at-2", "obo-rt-2"))
    challenge = '{"access_token":{"nbf":{"essential":true,"value":"1702682181"}}}'
    result = app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH, claims_challenge=challenge)
    assert result["access_token"] == "obo-at-2"
    body = body_of(token_posts(discovered)[-1])
    assert body["grant_type"] == JWT_BEARER  # the assertion, not the cached RT
    assert json.loads(body["claims"]) == {
        "access_token": {
            "nbf": {"essential": True, "value": "1702682181"},
            "xms_cc": {"values": ["cp1"]},
        }
    }
    # The new token replaced the old one in the cache.
    assert app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)["access_token"] == "obo-at-2"


def test_interaction_required_is_returned_with_its_claims(
    discovered: responses.RequestsMock,
) -> None:
    claims = '{"access_token":{"polids":{"essential":true,"values":["9ab03e19"]}}}'
    discovered.post(
        TOKEN_ENDPOINT,
        json=oauth_error("interaction_required", "AADSTS50079: MFA", claims=claims),
        status=400,
    )
    app = make_app()
    result = app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert result["error"] == "interaction_required"
    assert result["claims"] == claims
    assert section(app, "AccessToken") == []


def test_forwarded_client_claims_key_the_cache(discovered: responses.RequestsMock) -> None:
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    forwarded = '{"xms_az_claim": "1"}'
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH, forwarded_client_claims=forwarded)
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=obo_token("plain-at", "plain-rt"))
    plain = app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert plain["access_token"] == "plain-at"
    again = app.acquire_token_on_behalf_of(
        ALICE_ASSERTION, GRAPH, forwarded_client_claims=forwarded
    )
    assert again["token_source"] == "cache"
    assert again["access_token"] == "obo-at-1"


def test_access_hooks_get_the_assertion_partition(discovered: responses.RequestsMock) -> None:
    seen: list[tuple[str, CacheAccess]] = []
    saved: list[str] = []

    def after(access: CacheAccess) -> None:
        seen.append(("after", access))
        if access.has_state_changed:
            saved.append(access.cache.serialize())  # type: ignore[attr-defined]

    cache = SerializableTokenCache(
        before_access=lambda access: seen.append(("before", access)), after_access=after
    )
    discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app(token_cache=cache)
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    assert seen
    expected = obo_partition_key(ALICE_ASSERTION)
    assert {access.partition_key for _, access in seen} == {expected}
    assert not any(access.is_app_cache for _, access in seen)
    assert len(saved) == 1  # one write; the lookups change nothing


def test_msal_reuse_pattern_still_works(discovered: responses.RequestsMock) -> None:
    """msal documents get_accounts() + acquire_token_silent() to reuse OBO tokens: the
    cached access token is served, with no request (azure-identity's OnBehalfOfCredential
    reads its tokens this way); once it expired, the OBO refresh token renews it."""
    token_post = discovered.post(TOKEN_ENDPOINT, json=obo_token())
    app = make_app()
    app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH)
    (account,) = app.get_accounts()
    result = app.acquire_token_silent(GRAPH, account)
    assert result is not None
    assert (result["access_token"], result["token_source"]) == ("obo-at-1", "cache")
    assert token_post.call_count == 1
    discovered.upsert(responses.POST, TOKEN_ENDPOINT, json=obo_token("silent-at", "obo-rt-2"))
    app._state.now = lambda: time.time() + 3600  # type: ignore[method-assign]
    result = app.acquire_token_silent(GRAPH, account)
    assert result is not None
    assert result["access_token"] == "silent-at"  # via the OBO refresh token


def test_refresh_token_lookup_is_indexed_by_assertion() -> None:
    """The OBO refresh token is found without scanning: a counting cache proves it."""
    cache = SerializableTokenCache()
    for n in range(200):  # other users' OBO refresh tokens
        cache.add(
            {
                "client_id": CLIENT_ID,
                "scope": ["User.Read"],
                "environment": HOST,
                "token_endpoint": f"https://{HOST}/{TENANT}/oauth2/v2.0/token",
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "user_assertion_hash": f"hash-{n}",
                "response": {"refresh_token": f"rt-{n}", "client_info": _client_info(n)},
            }
        )
    query = {"environment": HOST, "client_id": CLIENT_ID, "user_assertion_hash": "hash-7"}
    store = cache._store
    keys = store.candidates("RefreshToken", query)
    assert keys is not None
    assert len(keys) == 1
    found = find_obo_refresh_token(cache, query)
    assert found is not None
    assert found["secret"] == "rt-7"


def _client_info(n: int) -> str:
    import base64
    import json

    raw = json.dumps({"uid": f"user-{n}", "utid": TENANT}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize("assertion", [None, "", "   ", b"bytes-token", 42])
def test_user_assertion_must_be_a_non_empty_string(
    http: responses.RequestsMock, assertion: Any
) -> None:
    with pytest.raises(ValueError, match="user_assertion"):
        make_app().acquire_token_on_behalf_of(assertion, GRAPH)
    assert len(http.calls) == 0


@pytest.mark.parametrize(
    ("scopes", "error"),
    [
        ("User.Read", ValueError),
        ([], ValueError),
        (["openid", "User.Read"], ValueError),
        ([1], TypeError),
    ],
)
def test_scopes_are_checked(http: responses.RequestsMock, scopes: Any, error: type) -> None:
    with pytest.raises(error):
        make_app().acquire_token_on_behalf_of(ALICE_ASSERTION, scopes)
    assert len(http.calls) == 0


def test_claims_arguments_are_checked(http: responses.RequestsMock) -> None:
    app = make_app()
    with pytest.raises(ValueError, match="claims_challenge"):
        app.acquire_token_on_behalf_of(ALICE_ASSERTION, GRAPH, claims_challenge="not json")
    with pytest.raises(ValueError, match="forwarded_client_claims"):
        app.acquire_token_on_behalf_of(
            ALICE_ASSERTION,
            GRAPH,
            forwarded_client_claims=1,  # type: ignore[arg-type]
        )
    assert len(http.calls) == 0


def test_msal_signature() -> None:
    import inspect

    params = list(inspect.signature(make_app().acquire_token_on_behalf_of).parameters)
    assert params == [
        "user_assertion",
        "scopes",
        "claims_challenge",
        "forwarded_client_claims",
        "kwargs",
    ]
