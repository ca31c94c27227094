"""acquire_token_silent(_with_error): cache hits, refresh with RTs, FOCI, tenants, errors."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

import pytest
import requests
import responses

from identitylib import PublicClientApplication, SerializableTokenCache, TokenCache
from identitylib._cache import _own
from identitylib._cache._store import IndexedSections
from tests._servers import require_module

from .conftest import CLIENT_ID, TENANT, add_discovery, oidc_config
from .test_silent_support import (
    AUTHORITY,
    HOME_ACCOUNT_ID,
    HOST,
    TOKEN_ENDPOINT,
    UID,
    body_of,
    expire_access_tokens,
    oauth_error,
    public_app,
    ropc_sign_in,
    token_posts,
    user_token,
)

OTHER_CLIENT = "cid-0001"
TENANT_B = "99999999-8888-7777-6666-555555555555"


def signed_in(http: responses.RequestsMock, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """An app with Alice's tokens cached (AT for openid profile email User.Read, RT rt-1)."""
    app = public_app(**kwargs)
    ropc_sign_in(http, app, user_token(client_id=app.client_id))
    (account,) = app.get_accounts()
    return app, account


def rts(cache: Any) -> list[dict[str, Any]]:
    return list(cache._cache.get("RefreshToken", {}).values())


# ---------------------------------------------------------------- cache hits


def test_hit_for_a_subset_of_the_cached_scopes(http: responses.RequestsMock) -> None:
    app, account = signed_in(http)
    calls = len(http.calls)
    result = app.acquire_token_silent(["User.Read"], account)
    assert result is not None
    assert result["access_token"] == "at-1"
    assert set(result) == {"access_token", "token_type", "expires_in", "token_source"}
    assert result["token_source"] == "cache"
    assert app.acquire_token_silent(["email", "user.read"], account)["access_token"] == "at-1"
    assert app.acquire_token_silent_with_error(["User.Read"], account)["token_source"] == "cache"
    assert len(http.calls) == calls


def test_no_account_means_none(http: responses.RequestsMock) -> None:
    app, _ = signed_in(http)
    assert app.acquire_token_silent(["User.Read"], None) is None
    assert app.acquire_token_silent_with_error(["User.Read"], None) is None
    assert app.acquire_token_silent(["User.Read"], {"username": "x"}) is None


def test_nothing_cached_means_none(http: responses.RequestsMock) -> None:
    app = public_app()
    account = {"home_account_id": HOME_ACCOUNT_ID, "environment": HOST}
    assert app.acquire_token_silent(["User.Read"], account) is None
    assert app.acquire_token_silent_with_error(["User.Read"], account) is None
    assert len(http.calls) == 0  # a GUID tenant needs no discovery to look in the cache


def test_other_scopes_without_rt_means_none(http: responses.RequestsMock) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token(refresh_token=None))
    (account,) = app.get_accounts()
    assert app.acquire_token_silent(["Mail.Read"], account) is None


def test_alias_environment_is_served(http: responses.RequestsMock) -> None:
    writer = public_app(authority=f"https://login.windows.net/{TENANT}")
    # Every alias of the public cloud issues tokens as login.microsoftonline.com.
    ropc_sign_in(http, writer, user_token())
    reader = public_app(authority=AUTHORITY, token_cache=writer.token_cache)
    (account,) = reader.get_accounts()
    assert account["environment"] == "login.windows.net"
    assert reader.acquire_token_silent(["User.Read"], account)["token_source"] == "cache"


def test_organizations_authority_uses_its_literal_realm(http: responses.RequestsMock) -> None:
    app = public_app(authority=f"https://{HOST}/organizations")
    config = oidc_config(f"https://{HOST}", "organizations")
    config["issuer"] = f"https://{HOST}/{{tenantid}}/v2.0"
    http.get(f"https://{HOST}/organizations/v2.0/.well-known/openid-configuration", json=config)
    ropc_sign_in(http, app, user_token())
    at = next(iter(app.token_cache._cache["AccessToken"].values()))
    assert at["realm"] == "organizations"
    (account,) = app.get_accounts()
    assert app.acquire_token_silent(["User.Read"], account)["token_source"] == "cache"


# ---------------------------------------------------------------- refresh


def test_expired_access_token_is_refreshed_with_the_rt(http: responses.RequestsMock) -> None:
    app, account = signed_in(http)
    expire_access_tokens(app.token_cache)
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    result = app.acquire_token_silent(["User.Read"], account)
    assert result["access_token"] == "at-2"
    assert result["token_source"] == "identity_provider"
    post = token_posts(http)[-1]
    assert body_of(post) == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "refresh_token": "rt-1",
        "scope": "User.Read offline_access openid profile",
        "client_info": "1",
    }
    assert post.request.headers["X-AnchorMailbox"] == f"Oid:{UID}@{TENANT}"
    assert app.acquire_token_silent(["User.Read"], account)["access_token"] == "at-2"


def test_rotated_rt_replaces_the_used_one(http: responses.RequestsMock) -> None:
    app, account = signed_in(http)
    (old,) = rts(app.token_cache)
    http.upsert(
        responses.POST,
        TOKEN_ENDPOINT,
        json=user_token("at-2", "rt-2", scope="Mail.Read openid profile"),
    )
    assert app.acquire_token_silent(["Mail.Read"], account)["access_token"] == "at-2"
    (new,) = rts(app.token_cache)
    assert new["secret"] == "rt-2"
    assert {k: v for k, v in new.items() if k not in ("secret", "last_modification_time")} == {
        k: v for k, v in old.items() if k not in ("secret", "last_modification_time")
    }


def test_force_refresh_skips_a_valid_token(http: responses.RequestsMock) -> None:
    app, account = signed_in(http)
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    result = app.acquire_token_silent(["User.Read"], account, force_refresh=True)
    assert result["access_token"] == "at-2"
    assert body_of(token_posts(http)[-1])["grant_type"] == "refresh_token"


def test_claims_challenge_skips_the_cache_and_is_sent(http: responses.RequestsMock) -> None:
    app, account = signed_in(http, client_capabilities=["CP1"])
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    challenge = '{"access_token":{"nbf":{"essential":true,"value":"1"}}}'
    result = app.acquire_token_silent(["User.Read"], account, claims_challenge=challenge)
    assert result["access_token"] == "at-2"
    claims = json.loads(body_of(token_posts(http)[-1])["claims"])
    assert claims["access_token"]["nbf"] == {"essential": True, "value": "1"}
    assert claims["access_token"]["xms_cc"] == {"values": ["CP1"]}


def test_exclude_scopes_honoured_on_refresh(http: responses.RequestsMock) -> None:
    app, account = signed_in(http, exclude_scopes=["offline_access"])
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    app.acquire_token_silent(["User.Read"], account, force_refresh=True)
    assert body_of(token_posts(http)[-1])["scope"] == "User.Read openid profile"


def test_refresh_failure_error_or_none_and_rt_kept(http: responses.RequestsMock) -> None:
    app, account = signed_in(http)
    http.upsert(
        responses.POST,
        TOKEN_ENDPOINT,
        status=400,
        json=oauth_error(
            "invalid_grant", "AADSTS50076: MFA required", suberror="basic_action", claims="{}"
        ),
    )
    error = app.acquire_token_silent_with_error(["User.Read"], account, force_refresh=True)
    assert error["error"] == "invalid_grant"
    assert error["classification"] == "basic_action"
    assert app.acquire_token_silent(["User.Read"], account, force_refresh=True) is None
    assert [rt["secret"] for rt in rts(app.token_cache)] == ["rt-1"]


@pytest.mark.parametrize("suberror", ["bad_token", "token_expired", "client_mismatch"])
def test_suppressed_suberrors_classify_as_empty(
    http: responses.RequestsMock, suberror: str
) -> None:
    app, account = signed_in(http)
    http.upsert(
        responses.POST,
        TOKEN_ENDPOINT,
        status=400,
        json=oauth_error("invalid_grant", suberror=suberror),
    )
    error = app.acquire_token_silent_with_error(["User.Read"], account, force_refresh=True)
    assert error["classification"] == ""


def test_refresh_transport_error_propagates_without_fallback(
    http: responses.RequestsMock,
) -> None:
    app, account = signed_in(http)
    http.upsert(responses.POST, TOKEN_ENDPOINT, body=requests.ConnectionError("offline"))
    with pytest.raises(requests.ConnectionError):
        app.acquire_token_silent(["User.Read"], account, force_refresh=True)


# ---------------------------------------------------------------- proactive refresh


def signed_in_with_refresh_due(http: responses.RequestsMock) -> tuple[Any, dict[str, Any]]:
    app, account = signed_in(http)
    for entry in list(app.token_cache._cache["AccessToken"].values()):
        app.token_cache.modify("AccessToken", entry, {"refresh_on": str(int(time.time()) - 5)})
    return app, account


def test_proactive_refresh_success(http: responses.RequestsMock) -> None:
    app, account = signed_in_with_refresh_due(http)
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    assert app.acquire_token_silent(["User.Read"], account)["access_token"] == "at-2"


def _never_connected() -> requests.ConnectionError:
    import urllib3

    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", refused))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failure", "attempts"),
    [
        ({"status": 400, "json": oauth_error("invalid_grant")}, 1),
        # A refresh token is a one-time credential: after a 5xx or a dropped connection the
        # server may have rotated it, so it is never sent again ...
        ({"status": 500, "json": oauth_error("server_error")}, 1),
        ({"body": requests.ConnectionError("connection aborted")}, 1),
        # ... but a request that never left is retried once.
        ({"body": _never_connected()}, 2),
    ],
)
def test_proactive_refresh_falls_back_to_the_cached_token(
    http: responses.RequestsMock, failure: dict[str, Any], attempts: int
) -> None:
    app, account = signed_in_with_refresh_due(http)
    http.upsert(responses.POST, TOKEN_ENDPOINT, **failure)
    result = app.acquire_token_silent_with_error(["User.Read"], account)
    assert result["access_token"] == "at-1"
    assert result["token_source"] == "cache"
    assert result["refresh_on"] < time.time()
    assert len(token_posts(http)) == 1 + attempts  # the sign-in, then the refresh


# ---------------------------------------------------------------- FOCI


def test_family_rt_serves_a_second_family_app(http: responses.RequestsMock) -> None:
    first, account = signed_in(http)
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token(client_id=CLIENT_ID, foci="1"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first.acquire_token_by_username_password("alice@contoso.com", "pw", ["User.Read"])
    (family_rt,) = rts(first.token_cache)
    assert family_rt["family_id"] == "1"
    second = public_app(client_id=OTHER_CLIENT, token_cache=first.token_cache)
    http.upsert(
        responses.POST,
        TOKEN_ENDPOINT,
        json=user_token("at-second", "rt-rotated", client_id=OTHER_CLIENT, foci="1"),
    )
    result = second.acquire_token_silent(["User.Read"], account)
    assert result["access_token"] == "at-second"
    body = body_of(token_posts(http)[-1])
    assert (body["client_id"], body["refresh_token"]) == (OTHER_CLIENT, family_rt["secret"])
    (rotated,) = rts(first.token_cache)
    assert (rotated["secret"], rotated["client_id"]) == ("rt-rotated", CLIENT_ID)
    meta = second.token_cache._get_app_metadata(HOST, OTHER_CLIENT)
    assert meta["family_id"] == "1"
    assert second.acquire_token_silent(["User.Read"], account)["access_token"] == "at-second"


def _non_family_app_with_own_rt(http: responses.RequestsMock) -> tuple[Any, dict[str, Any]]:
    """A family RT of CLIENT_ID and OTHER_CLIENT's own RT; OTHER_CLIENT's metadata lost."""
    first = public_app()
    ropc_sign_in(http, first, user_token(foci="1", refresh_token="family-rt"))
    second = public_app(client_id=OTHER_CLIENT, token_cache=first.token_cache)
    ropc_sign_in(http, second, user_token(client_id=OTHER_CLIENT, refresh_token="own-rt"))
    cache = first.token_cache
    cache.modify("AppMetadata", cache._get_app_metadata(HOST, OTHER_CLIENT))  # removes it
    expire_access_tokens(cache)
    (account,) = second.get_accounts()
    return second, account


def test_client_mismatch_falls_back_to_the_own_rt(http: responses.RequestsMock) -> None:
    second, account = _non_family_app_with_own_rt(http)
    mismatch = oauth_error(
        "invalid_grant", "AADSTS70000: not a family member", suberror="client_mismatch"
    )
    http.upsert(responses.POST, TOKEN_ENDPOINT, status=400, json=mismatch)
    http.add(responses.POST, TOKEN_ENDPOINT, json=user_token("at-own", client_id=OTHER_CLIENT))
    result = second.acquire_token_silent_with_error(["User.Read"], account)
    assert result["access_token"] == "at-own"
    tried = [body_of(c)["refresh_token"] for c in token_posts(http)[-2:]]
    assert tried == ["family-rt", "own-rt"]


def test_known_non_family_app_never_tries_family_rts(http: responses.RequestsMock) -> None:
    first = public_app()
    ropc_sign_in(http, first, user_token(foci="1", refresh_token="family-rt"))
    second = public_app(client_id=OTHER_CLIENT, token_cache=first.token_cache)
    ropc_sign_in(http, second, user_token(client_id=OTHER_CLIENT, refresh_token="own-rt"))
    (account,) = second.get_accounts()
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-own", client_id=OTHER_CLIENT))
    second.acquire_token_silent(["User.Read"], account, force_refresh=True)
    assert body_of(token_posts(http)[-1])["refresh_token"] == "own-rt"


def test_client_mismatch_with_no_own_rt_is_nothing_usable(http: responses.RequestsMock) -> None:
    first, account = signed_in(http)
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token(foci="1", refresh_token="frt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first.acquire_token_by_username_password("alice@contoso.com", "pw", ["User.Read"])
    stranger = public_app(client_id=OTHER_CLIENT, token_cache=first.token_cache)
    http.upsert(
        responses.POST,
        TOKEN_ENDPOINT,
        status=400,
        json=oauth_error("invalid_grant", error_additional_info=["client_mismatch"]),
    )
    assert stranger.acquire_token_silent_with_error(["User.Read"], account) is None


# ---------------------------------------------------------------- tenants


def test_tokens_of_another_tenant_for_the_same_account(http: responses.RequestsMock) -> None:
    app, account = signed_in(http)
    endpoint_b = add_discovery(http, tenant=TENANT_B)
    http.post(endpoint_b, json=user_token("at-b", "rt-2", tenant=TENANT_B))
    other = f"https://{HOST}/{TENANT_B}"
    result = app.acquire_token_silent(["User.Read"], account, authority=other)
    assert result["access_token"] == "at-b"
    assert body_of(token_posts(http, endpoint_b)[-1])["refresh_token"] == "rt-1"
    realms = sorted(at["realm"] for at in app.token_cache._cache["AccessToken"].values())
    assert realms == sorted([TENANT, TENANT_B])
    calls = len(http.calls)
    assert app.acquire_token_silent(["User.Read"], account, authority=other)["access_token"] == (
        "at-b"
    )
    assert app.acquire_token_silent(["User.Read"], account)["access_token"] == "at-1"
    assert len(http.calls) == calls
    assert [a["home_account_id"] for a in app.get_accounts()] == [HOME_ACCOUNT_ID]


def test_authority_of_another_cloud_is_ignored_with_a_warning(
    http: responses.RequestsMock,
) -> None:
    app, account = signed_in(http)
    with pytest.warns(UserWarning, match="ignored"):
        result = app.acquire_token_silent(
            ["User.Read"], account, authority=f"https://login.microsoftonline.us/{TENANT_B}"
        )
    assert result["access_token"] == "at-1"


# ---------------------------------------------------------------- cache use


def test_access_hooks_get_the_home_account_partition(http: responses.RequestsMock) -> None:
    seen: list[tuple[Any, bool]] = []
    cache = SerializableTokenCache(
        before_access=lambda access: seen.append((access.partition_key, access.is_app_cache))
    )
    app, account = signed_in(http, token_cache=cache)
    seen.clear()
    app.acquire_token_silent(["User.Read"], account)
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    app.acquire_token_silent(["User.Read"], account, force_refresh=True)
    assert seen
    assert set(seen) == {(HOME_ACCOUNT_ID, False)}


def test_lookups_never_list_the_whole_cache(
    http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, account = signed_in(http)
    queries: list[tuple[str, Any]] = []
    original = TokenCache.search

    def spy(self: Any, credential_type: str, target: Any = None, query: Any = None, **kw: Any):
        queries.append((credential_type, query))
        return original(self, credential_type, target=target, query=query, **kw)

    looked_up = IndexedSections.found

    def spy_index(self: Any, credential_type: str, probe: Any, keep: Any = None) -> Any:
        queries.append((credential_type, probe))  # refresh tokens: through the index
        return looked_up(self, credential_type, probe, keep)

    read_account = _own.account_entries

    def spy_account(store: Any, credential_type: str, home: Any, environment: Any) -> Any:
        queries.append((credential_type, {"home_account_id": home, "environment": environment}))
        return read_account(store, credential_type, home, environment)

    monkeypatch.setattr(TokenCache, "search", spy)
    monkeypatch.setattr(IndexedSections, "found", spy_index)
    monkeypatch.setattr(_own, "account_entries", spy_account)  # (an account's RTs: its index)
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    app.acquire_token_silent(["User.Read"], account)
    app.acquire_token_silent(["User.Read"], account, force_refresh=True)
    assert queries
    for credential_type, query in queries:
        assert query, credential_type
        if credential_type == "RefreshToken":
            assert query["home_account_id"] == HOME_ACCOUNT_ID
            assert query["environment"] == HOST


def test_works_with_an_msal_cache_object(http: responses.RequestsMock) -> None:
    msal = require_module("msal")
    cache = msal.SerializableTokenCache()
    app = public_app(token_cache=cache)
    ropc_sign_in(http, app, user_token())
    (account,) = app.get_accounts()
    assert app.acquire_token_silent(["User.Read"], account)["token_source"] == "cache"
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    assert app.acquire_token_silent(["User.Read"], account, force_refresh=True)["access_token"] == (
        "at-2"
    )
    assert {rt["secret"] for rt in cache.search("RefreshToken")} == {"rt-2"}


def test_caller_mistakes_raise(http: responses.RequestsMock) -> None:
    app, account = signed_in(http)
    with pytest.raises(ValueError, match="reserved"):
        app.acquire_token_silent(["openid"], account)
    with pytest.raises(ValueError, match="broker"):
        app.acquire_token_silent(["User.Read"], account, auth_scheme=object())
    with pytest.raises(ValueError, match="list"):
        app.acquire_token_silent("User.Read", account)
    with pytest.raises(ValueError, match="claims_challenge"):
        app.acquire_token_silent(["User.Read"], account, claims_challenge="{")


def test_public_client_type() -> None:
    assert isinstance(public_app(), PublicClientApplication)
