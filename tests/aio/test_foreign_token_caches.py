"""identitylib.aio with token caches that are not identitylib's own (see
tests/test_foreign_token_caches.py for the blocking API): used only through msal's methods."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any
from unittest.mock import MagicMock, Mock

import pytest

import identitylib
from identitylib import aio
from identitylib.emulator import DEMO_CLI_ID, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator
from identitylib.emulator._mi_sources import managed_identity_environment
from tests._servers import require_module
from tests.test_foreign_token_caches import (
    ALICE,
    APP_SCOPES,
    EMPTY_CACHES,
    MSAL_CACHE_METHODS,
    STORING_CACHES,
    USER_SCOPES,
    called_methods,
)

from ._support import run

require_module("msal")


@pytest.fixture
def tls_emu(identitylib_emulator_tls: Emulator) -> Emulator:
    """The HTTPS emulator (msal's cache parses the token endpoint and wants https)."""
    identitylib_emulator_tls.faults.reset()
    identitylib_emulator_tls.reset_requests()
    return identitylib_emulator_tls


def daemon(emu: Emulator, cache: Any) -> aio.ConfidentialClientApplication:
    return aio.ConfidentialClientApplication(
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        authority=emu.authority(),
        token_cache=cache,
        verify=emu.ca_path,
    )


def public(emu: Emulator, cache: Any) -> aio.PublicClientApplication:
    return aio.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=cache, verify=emu.ca_path
    )


async def sign_in_alice(app: aio.PublicClientApplication) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = await app.acquire_token_by_username_password(*ALICE, USER_SCOPES)
    assert "access_token" in result, result
    return result


@pytest.mark.parametrize("make_cache", STORING_CACHES.values(), ids=STORING_CACHES.keys())
def test_client_credentials_with_a_foreign_cache(
    tls_emu: Emulator, make_cache: Callable[[], Any]
) -> None:
    cache = make_cache()

    async def main() -> None:
        async with daemon(tls_emu, cache) as app:
            first = await app.acquire_token_for_client(APP_SCOPES)
            assert first.get("token_source") == "identity_provider", first
            second = await app.acquire_token_for_client(APP_SCOPES)
            assert second.get("token_source") == "cache", second
            assert second["access_token"] == first["access_token"]
            await app.remove_tokens_for_client()
            third = await app.acquire_token_for_client(APP_SCOPES)
            assert third.get("token_source") == "identity_provider", third

    run(main())
    if isinstance(cache, Mock):
        assert called_methods(cache) <= MSAL_CACHE_METHODS


@pytest.mark.parametrize("make_cache", STORING_CACHES.values(), ids=STORING_CACHES.keys())
def test_silent_calls_with_a_foreign_cache(
    tls_emu: Emulator, make_cache: Callable[[], Any]
) -> None:
    cache = make_cache()

    async def main() -> None:
        async with public(tls_emu, cache) as app:
            signed_in = await sign_in_alice(app)
            [account] = await app.get_accounts(username=ALICE[0])
            hit = await app.acquire_token_silent(USER_SCOPES, account)
            assert hit is not None
            assert hit["token_source"] == "cache", hit
            assert hit["access_token"] == signed_in["access_token"]
            refreshed = await app.acquire_token_silent(USER_SCOPES, account, force_refresh=True)
            assert refreshed is not None
            assert refreshed["token_source"] == "identity_provider", refreshed
            await app.remove_account(account)
            assert await app.get_accounts() == []
            assert await app.acquire_token_silent(USER_SCOPES, account) is None

    run(main())
    if isinstance(cache, Mock):
        assert called_methods(cache) <= MSAL_CACHE_METHODS


@pytest.mark.parametrize("make_cache", EMPTY_CACHES.values(), ids=EMPTY_CACHES.keys())
def test_a_mock_cache_is_asked_only_msal_methods(
    tls_emu: Emulator, make_cache: Callable[[], Any]
) -> None:
    cache = make_cache()

    async def main() -> None:
        async with daemon(tls_emu, cache) as app:
            for _ in range(2):  # the mock remembers nothing: both calls go to the network
                result = await app.acquire_token_for_client(APP_SCOPES)
                assert result.get("token_source") == "identity_provider", result
            await app.remove_tokens_for_client()
        async with public(tls_emu, cache) as user_app:
            await sign_in_alice(user_app)
            assert await user_app.get_accounts() == []
            account = {"home_account_id": "uid.utid", "environment": "localhost"}
            assert await user_app.acquire_token_silent(USER_SCOPES, account) is None
            await user_app.remove_account(account)

    run(main())
    assert "add" in called_methods(cache)
    assert called_methods(cache) <= MSAL_CACHE_METHODS


MI_CACHES = {
    "Mock(wraps=TokenCache())": lambda: Mock(wraps=identitylib.TokenCache()),
    "MagicMock()": MagicMock,
}


@pytest.mark.parametrize("make_cache", MI_CACHES.values(), ids=MI_CACHES.keys())
def test_managed_identity_with_a_foreign_cache(
    emu: Emulator, mi_env: pytest.MonkeyPatch, make_cache: Callable[[], Any]
) -> None:
    for name, value in managed_identity_environment(emu, "imds").items():
        mi_env.setenv(name, value)
    resource = "https://management.azure.com/"
    cache = make_cache()
    stores = not isinstance(cache, MagicMock)
    identity = identitylib.SystemAssignedManagedIdentity()
    blocking = identitylib.ManagedIdentityClient(identity, token_cache=cache)
    for _ in range(2):
        assert "access_token" in blocking.acquire_token_for_client(resource=resource)

    async def main() -> list[dict[str, Any]]:
        async with aio.ManagedIdentityClient(identity, token_cache=cache) as client:
            return [await client.acquire_token_for_client(resource=resource) for _ in range(2)]

    results = run(main())
    assert [r["token_source"] for r in results] == (
        ["cache", "cache"] if stores else ["identity_provider", "identity_provider"]
    )
    assert called_methods(cache) <= MSAL_CACHE_METHODS
