"""get_accounts, remove_account, acquire_token_by_refresh_token, and msal interop."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import responses

import identitylib
from tests._servers import require_module

from .conftest import CLIENT_ID, TENANT, add_discovery
from .test_silent_support import (
    AUTHORITY,
    HOME_ACCOUNT_ID,
    HOST,
    TOKEN_ENDPOINT,
    UID,
    USERNAME,
    body_of,
    expire_access_tokens,
    oauth_error,
    public_app,
    ropc_sign_in,
    token_posts,
    user_token,
)

BOB_UID = "0a1b2c3d-0000-4000-8000-000000000b0b"
OTHER_CLIENT = "cid-0001"
TENANT_B = "99999999-8888-7777-6666-555555555555"
ACCOUNT_KEYS = {
    "home_account_id",
    "environment",
    "username",
    "account_source",
    "authority_type",
    "local_account_id",
    "realm",
}


def sections(cache: Any) -> dict[str, list[dict[str, Any]]]:
    return {name: list(section.values()) for name, section in cache._cache.items()}


# ---------------------------------------------------------------- get_accounts


def test_accounts_are_msal_dicts_filtered_by_username(http: responses.RequestsMock) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token())
    ropc_sign_in(http, app, user_token(uid=BOB_UID, username="Bob@Contoso.com"), "bob")
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == ["alice@contoso.com", "Bob@Contoso.com"]
    alice = accounts[0]
    assert set(alice) == ACCOUNT_KEYS
    assert alice == {
        "home_account_id": HOME_ACCOUNT_ID,
        "environment": HOST,
        "username": USERNAME,
        "account_source": "password",
        "authority_type": "MSSTS",
        "local_account_id": UID,
        "realm": TENANT,
    }
    assert [a["username"] for a in app.get_accounts(username="BOB@contoso.COM")] == [
        "Bob@Contoso.com"
    ]
    assert app.get_accounts(username="carol@contoso.com") == []


def test_one_account_per_home_account_across_tenants(http: responses.RequestsMock) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token())
    endpoint_b = add_discovery(http, tenant=TENANT_B)
    http.post(endpoint_b, json=user_token("at-b", "rt-b", tenant=TENANT_B))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        guest = public_app(authority=f"https://{HOST}/{TENANT_B}", token_cache=app.token_cache)
        assert "access_token" in guest.acquire_token_by_username_password(
            USERNAME, "pw", ["User.Read"]
        )
    assert len(app.token_cache._cache["Account"]) == 2
    (account,) = app.get_accounts()
    assert account["realm"] == TENANT  # the home tenant's entry represents the account


def test_accounts_found_under_an_alias_without_network(http: responses.RequestsMock) -> None:
    writer = public_app(authority=f"https://login.windows.net/{TENANT}")
    # Every alias of the public cloud issues tokens as login.microsoftonline.com.
    ropc_sign_in(http, writer, user_token())
    calls = len(http.calls)
    reader = public_app(token_cache=writer.token_cache)
    (account,) = reader.get_accounts()
    assert account["environment"] == "login.windows.net"
    assert len(http.calls) == calls


def test_other_clouds_and_types_are_not_listed() -> None:
    cache = identitylib.TokenCache()
    base = {"home_account_id": "h.t", "realm": "t", "local_account_id": "h", "username": "u"}
    for entry in (
        {**base, "environment": "login.chinacloudapi.cn", "authority_type": "MSSTS"},
        {**base, "environment": HOST, "realm": "x", "authority_type": "MSA"},
    ):
        cache.modify("Account", entry, entry)
    assert public_app(token_cache=cache).get_accounts() == []


# ---------------------------------------------------------------- remove_account


def test_remove_account_forgets_everything_of_that_account(http: responses.RequestsMock) -> None:
    first = public_app()
    ropc_sign_in(http, first, user_token(foci="1", refresh_token="family-rt"))
    cache = first.token_cache
    family_member = public_app(client_id=OTHER_CLIENT, token_cache=cache)
    ropc_sign_in(
        http, family_member, user_token(client_id=OTHER_CLIENT, foci="1", refresh_token="f2")
    )
    bob = user_token(uid=BOB_UID, username="bob@contoso.com", foci="1")
    ropc_sign_in(http, first, bob, "bob")
    endpoint_b = add_discovery(http, tenant=TENANT_B)
    http.post(endpoint_b, json=user_token("at-b", "rt-b", tenant=TENANT_B, foci="1"))
    alice = first.get_accounts(username=USERNAME)[0]
    first.acquire_token_silent(["User.Read"], alice, authority=f"https://{HOST}/{TENANT_B}")
    stranger = public_app(client_id="not-in-family", token_cache=cache)
    ropc_sign_in(http, stranger, user_token(client_id="not-in-family", refresh_token="keep-me"))

    first.remove_account(alice)

    left = sections(cache)
    assert {rt["secret"] for rt in left["RefreshToken"]} == {"rt-1", "keep-me"}
    assert all(e["home_account_id"] != HOME_ACCOUNT_ID for e in left["AccessToken"])
    assert all(e["home_account_id"] != HOME_ACCOUNT_ID for e in left["IdToken"])
    assert all(e["home_account_id"] != HOME_ACCOUNT_ID for e in left["Account"])
    assert [a["username"] for a in first.get_accounts()] == ["bob@contoso.com"]
    assert first.acquire_token_silent(["User.Read"], alice) is None
    assert first.acquire_token_silent(["User.Read"], alice, force_refresh=True) is None


def test_remove_account_with_an_msal_cache_object(http: responses.RequestsMock) -> None:
    msal = require_module("msal")
    cache = msal.SerializableTokenCache()
    app = public_app(token_cache=cache)
    ropc_sign_in(http, app, user_token())
    (account,) = app.get_accounts()
    app.remove_account(account)
    assert app.get_accounts() == []
    assert list(cache.search("RefreshToken")) == []
    assert list(cache.search("AccessToken")) == []


def test_remove_account_needs_an_account() -> None:
    with pytest.raises(ValueError, match="get_accounts"):
        public_app().remove_account({})


# ---------------------------------------------------------------- migration


def test_refresh_token_migration(http: responses.RequestsMock) -> None:
    add_discovery(http)
    http.post(TOKEN_ENDPOINT, json=user_token("at-m", "rt-new"))
    app = public_app()
    result = app.acquire_token_by_refresh_token("old-adal-rt", ["User.Read"])
    assert result["access_token"] == "at-m"
    assert result["token_source"] == "identity_provider"
    assert body_of(http.calls[-1]) == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "refresh_token": "old-adal-rt",
        "scope": "User.Read offline_access openid profile",
        "client_info": "1",
    }
    assert [rt["secret"] for rt in sections(app.token_cache)["RefreshToken"]] == ["rt-new"]
    (account,) = app.get_accounts()
    assert app.acquire_token_silent(["User.Read"], account)["access_token"] == "at-m"


def test_refresh_token_migration_error(http: responses.RequestsMock) -> None:
    add_discovery(http)
    http.post(TOKEN_ENDPOINT, status=400, json=oauth_error("invalid_grant"))
    app = public_app()
    result = app.acquire_token_by_refresh_token("bad", ["User.Read"])
    assert result["error"] == "invalid_grant"
    assert app.get_accounts() == []


def test_confidential_client_migration_authenticates(http: responses.RequestsMock) -> None:
    add_discovery(http)
    http.post(TOKEN_ENDPOINT, json=user_token("at-m", "rt-new"))
    app = identitylib.ConfidentialClientApplication(CLIENT_ID, "s3cret", authority=AUTHORITY)
    app.acquire_token_by_refresh_token("rt", ["User.Read"])
    assert body_of(http.calls[-1])["client_secret"] == "s3cret"


# ---------------------------------------------------------------- msal interop


@pytest.mark.msal
def test_cache_written_by_msal_serves_identitylib(http: responses.RequestsMock) -> None:
    msal = require_module("msal")
    add_discovery(http)
    http.post(TOKEN_ENDPOINT, json=user_token(foci="1"))
    msal_cache = msal.SerializableTokenCache()
    writer = msal.PublicClientApplication(CLIENT_ID, authority=AUTHORITY, token_cache=msal_cache)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert "access_token" in writer.acquire_token_by_username_password(
            USERNAME, "pw", ["User.Read"]
        )
    assert len(token_posts(http)) == 1
    cache = identitylib.SerializableTokenCache()
    cache.deserialize(msal_cache.serialize())
    http.replace(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2", foci="1"))
    reader = identitylib.PublicClientApplication(CLIENT_ID, authority=AUTHORITY, token_cache=cache)
    (account,) = reader.get_accounts()
    assert account == writer.get_accounts()[0]
    hit = reader.acquire_token_silent(["User.Read"], account)
    assert (hit["access_token"], hit["token_source"]) == ("at-1", "cache")
    assert len(token_posts(http)) == 1  # msal's only
    expire_access_tokens(cache)
    refreshed = reader.acquire_token_silent(["User.Read"], account)
    assert refreshed["access_token"] == "at-2"
    assert body_of(token_posts(http)[1])["refresh_token"] == "rt-1"
    assert [rt["secret"] for rt in cache.search("RefreshToken")] == ["rt-2"]


@pytest.mark.msal
def test_cache_written_by_identitylib_serves_msal(http: responses.RequestsMock) -> None:
    msal = require_module("msal")
    app = public_app(token_cache=identitylib.SerializableTokenCache())
    ropc_sign_in(http, app, user_token(foci="1"))
    msal_cache = msal.SerializableTokenCache()
    msal_cache.deserialize(app.token_cache.serialize())
    http.replace(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2", foci="1"))
    reader = msal.PublicClientApplication(CLIENT_ID, authority=AUTHORITY, token_cache=msal_cache)
    (account,) = reader.get_accounts()
    assert account == app.get_accounts()[0]
    hit = reader.acquire_token_silent(["User.Read"], account)
    assert (hit["access_token"], hit["token_source"]) == ("at-1", "cache")
    assert len(token_posts(http)) == 1  # identitylib's sign-in only
    refreshed = reader.acquire_token_silent(["User.Read"], account, force_refresh=True)
    assert refreshed["access_token"] == "at-2"
    assert body_of(token_posts(http)[1])["refresh_token"] == "rt-1"
    # and back: identitylib serves msal's rotated cache
    again = identitylib.SerializableTokenCache()
    again.deserialize(msal_cache.serialize())
    back = public_app(token_cache=again)
    assert back.acquire_token_silent(["User.Read"], account)["access_token"] == "at-2"
    assert len(token_posts(http)) == 2  # identitylib's sign-in, msal's refresh
