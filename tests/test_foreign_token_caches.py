"""Token caches that are not identitylib's own are used only through msal's cache methods.

A ``Mock`` answers every attribute (``has_async_hooks``, ``access``, the index methods)
with a truthy object; msal's ``SerializableTokenCache`` has none of them. Either must work
for a client-credentials call and a silent call, blocking and (tests/aio) asyncio.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any
from unittest.mock import MagicMock, Mock

import pytest
import requests

import identitylib
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
)
from tests._servers import require_module

msal = require_module("msal")

APP_SCOPES = [f"{DEMO_API_URI}/.default"]
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")

#: The methods msal 1.39 calls on a token cache (application.py, managed_identity.py),
#: plus the rest of its public cache API.
MSAL_CACHE_METHODS = frozenset(
    {
        "search",
        "find",
        "add",
        "modify",
        "update_rt",
        "remove_rt",
        "remove_at",
        "remove_idt",
        "remove_account",
        "_get_app_metadata",
        "serialize",
        "deserialize",
    }
)

#: Caches that store what they are given (a real cache behind them).
STORING_CACHES: dict[str, Callable[[], Any]] = {
    "Mock(wraps=TokenCache())": lambda: Mock(wraps=identitylib.TokenCache()),
    "msal.SerializableTokenCache": lambda: msal.SerializableTokenCache(),
    "Mock(wraps=msal cache)": lambda: Mock(wraps=msal.SerializableTokenCache()),
}
#: Caches that remember nothing: every search finds nothing.
EMPTY_CACHES: dict[str, Callable[[], Any]] = {
    "MagicMock()": MagicMock,
    "MagicMock(spec=TokenCache)": lambda: MagicMock(spec=identitylib.TokenCache),
}


@pytest.fixture
def emulator(identitylib_emulator_tls: Emulator) -> Emulator:
    """The HTTPS emulator (msal's cache parses the token endpoint and wants https)."""
    identitylib_emulator_tls.faults.reset()
    identitylib_emulator_tls.reset_requests()
    return identitylib_emulator_tls


def called_methods(cache: Any) -> set[str]:
    """Names of the cache's methods the library called (a mock's top-level calls)."""
    return {name.split(".")[0] for name, _, _ in cache.method_calls}


def daemon(emulator: Emulator, cache: Any) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        authority=emulator.authority(),
        token_cache=cache,
        verify=emulator.ca_path,
    )


def public(emulator: Emulator, cache: Any) -> identitylib.PublicClientApplication:
    return identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emulator.authority(), token_cache=cache, verify=emulator.ca_path
    )


def sign_in_alice(app: identitylib.PublicClientApplication) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(*ALICE, USER_SCOPES)
    assert "access_token" in result, result
    return result


@pytest.mark.parametrize("make_cache", STORING_CACHES.values(), ids=STORING_CACHES.keys())
def test_client_credentials_with_a_foreign_cache(
    emulator: Emulator, make_cache: Callable[[], Any]
) -> None:
    cache = make_cache()
    app = daemon(emulator, cache)
    first = app.acquire_token_for_client(APP_SCOPES)
    assert first.get("token_source") == "identity_provider", first
    second = app.acquire_token_for_client(APP_SCOPES)
    assert second.get("token_source") == "cache", second
    assert second["access_token"] == first["access_token"]
    app.remove_tokens_for_client()
    third = app.acquire_token_for_client(APP_SCOPES)
    assert third.get("token_source") == "identity_provider", third
    if isinstance(cache, Mock):
        assert called_methods(cache) <= MSAL_CACHE_METHODS


@pytest.mark.parametrize("make_cache", STORING_CACHES.values(), ids=STORING_CACHES.keys())
def test_silent_calls_with_a_foreign_cache(
    emulator: Emulator, make_cache: Callable[[], Any]
) -> None:
    cache = make_cache()
    app = public(emulator, cache)
    signed_in = sign_in_alice(app)
    [account] = app.get_accounts(username=ALICE[0])
    hit = app.acquire_token_silent(USER_SCOPES, account)
    assert hit is not None
    assert hit["token_source"] == "cache", hit
    assert hit["access_token"] == signed_in["access_token"]
    refreshed = app.acquire_token_silent(USER_SCOPES, account, force_refresh=True)
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider", refreshed
    app.remove_account(account)
    assert app.get_accounts() == []
    assert app.acquire_token_silent(USER_SCOPES, account) is None
    if isinstance(cache, Mock):
        assert called_methods(cache) <= MSAL_CACHE_METHODS


@pytest.mark.parametrize("make_cache", EMPTY_CACHES.values(), ids=EMPTY_CACHES.keys())
def test_a_mock_cache_is_asked_only_msal_methods(
    emulator: Emulator, make_cache: Callable[[], Any]
) -> None:
    cache = make_cache()
    app = daemon(emulator, cache)
    for _ in range(2):  # the mock remembers nothing: both calls go to the token endpoint
        result = app.acquire_token_for_client(APP_SCOPES)
        assert result.get("token_source") == "identity_provider", result
    app.remove_tokens_for_client()
    user_app = public(emulator, cache)
    sign_in_alice(user_app)
    assert user_app.get_accounts() == []
    account = {"home_account_id": "uid.utid", "environment": "localhost"}
    assert user_app.acquire_token_silent(USER_SCOPES, account) is None
    user_app.remove_account(account)
    assert "add" in called_methods(cache)
    assert called_methods(cache) <= MSAL_CACHE_METHODS


def test_msal_cache_serializes_what_identitylib_stored(emulator: Emulator) -> None:
    cache = msal.SerializableTokenCache()
    app = daemon(emulator, cache)
    token = app.acquire_token_for_client(APP_SCOPES)["access_token"]
    assert cache.has_state_changed
    reloaded = msal.SerializableTokenCache()
    reloaded.deserialize(cache.serialize())
    again = daemon(emulator, reloaded).acquire_token_for_client(APP_SCOPES)
    assert again["token_source"] == "cache"
    assert again["access_token"] == token


class GrantRecorder(requests.Session):
    """A requests session that notes the grant_type of every POST (and trusts the CA)."""

    def __init__(self, ca_path: str) -> None:
        super().__init__()
        self.ca_path = ca_path
        self.grants: list[str] = []

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("data")
        if method.upper() == "POST" and isinstance(body, dict):
            self.grants.append(str(body.get("grant_type")))
        kwargs["verify"] = self.ca_path
        return super().request(method, url, *args, **kwargs)


def test_on_behalf_of_with_msal_cache_exchanges_the_assertion_as_msal_does(
    emulator: Emulator,
) -> None:
    """msal's cache keeps no binding of the OBO tokens to the assertion: msal 1.39 exchanges
    the assertion on every call (it never looks up the RT), and identitylib given msal's
    cache object does the same, also once the access token has expired."""
    assertion = sign_in_alice(public(emulator, identitylib.TokenCache()))["access_token"]
    grants = {}
    for lib in (msal, identitylib):
        cache = msal.SerializableTokenCache()
        session = GrantRecorder(emulator.ca_path)
        options = {"instance_discovery": False} if lib is msal else {}
        app = lib.ConfidentialClientApplication(
            DEMO_API_ID, DEMO_API_SECRET, authority=emulator.authority(),
            token_cache=cache, http_client=session, verify=emulator.ca_path, **options,
        )  # fmt: skip
        first = app.acquire_token_on_behalf_of(assertion, ["User.Read"])
        assert "refresh_token" in first, first.get("error")
        [rt] = cache.search("RefreshToken")
        for at in cache._cache["AccessToken"].values():
            at["expires_on"] = "1"  # expired: a second call may not serve it
        emulator.reset_requests()
        second = app.acquire_token_on_behalf_of(assertion, ["User.Read"])
        assert second["token_source"] == "identity_provider"
        assert second["access_token"] != first["access_token"]
        token_posts = [r for r in emulator.requests if r[0] == "POST"]
        assert len(token_posts) == 1, emulator.requests
        grants[lib.__name__] = session.grants
        assert rt["secret"] == first["refresh_token"]  # the RT was neither used nor rotated
    assert grants["identitylib"] == grants["msal"] == [JWT_BEARER, JWT_BEARER]
