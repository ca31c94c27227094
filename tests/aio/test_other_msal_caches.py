"""identitylib.aio with a token cache shared with msal-node and MSAL.NET (see
tests/test_other_msal_caches.py for the blocking API and msal 1.39 beside it)."""

from __future__ import annotations

import json
import warnings

import pytest

import identitylib
from identitylib import aio
from identitylib.emulator import (
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_DOMAIN,
    Emulator,
)
from tests._other_msals import cache_json, dotnet_app_token, node_app_token, node_user_cache

from ._support import ALICE, APP_SCOPES, USER_SCOPES, run, token_posts


def netloc(emu: Emulator) -> str:
    return emu.base_url.split("://", 1)[1]


def loaded(serialized: str) -> identitylib.SerializableTokenCache:
    cache = identitylib.SerializableTokenCache()
    cache.deserialize(serialized)
    return cache


@pytest.mark.parametrize("writer", ["msal-node", "MSAL.NET"])
def test_app_tokens_of_other_msals(emu: Emulator, writer: str) -> None:
    common = {"client_id": DEMO_DAEMON_ID, "tenant": DEMO_TENANT_DOMAIN, "target": APP_SCOPES[0]}
    if writer == "msal-node":
        entry = node_app_token(environment=netloc(emu), secret="their-token", **common)
    else:
        entry = dotnet_app_token(environment="127.0.0.1", secret="their-token", **common)
    cache = loaded(cache_json(entry))

    async def main() -> None:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID,
            DEMO_DAEMON_SECRET,
            authority=emu.authority(DEMO_TENANT_DOMAIN),
            token_cache=cache,
        ) as app:
            hit = await app.acquire_token_for_client(APP_SCOPES)
            assert (hit["access_token"], hit["token_source"]) == ("their-token", "cache")
            assert token_posts(emu) == 0
            await app.remove_tokens_for_client()
            assert json.loads(cache.serialize())["AccessToken"] == {}
            again = await app.acquire_token_for_client(APP_SCOPES)
            assert again["token_source"] == "identity_provider", again

    run(main())


def test_user_tokens_msal_node_cached_at_a_port(emu: Emulator) -> None:
    async def main() -> None:
        async with aio.PublicClientApplication(
            DEMO_CLI_ID, authority=emu.authority(), token_cache=identitylib.TokenCache()
        ) as scratch:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                signed_in = await scratch.acquire_token_by_username_password(*ALICE, USER_SCOPES)
        assert "refresh_token" in signed_in, signed_in
        sections = node_user_cache(
            signed_in,
            environment=netloc(emu),
            client_id=DEMO_CLI_ID,
            access_token="node-user-at",
        )
        cache = loaded(cache_json(sections=sections))
        emu.reset_requests()
        async with aio.PublicClientApplication(
            DEMO_CLI_ID, authority=emu.authority(), token_cache=cache
        ) as app:
            [account] = await app.get_accounts()
            assert account["environment"] == netloc(emu)
            hit = await app.acquire_token_silent(USER_SCOPES, account)
            assert hit is not None
            assert (hit["access_token"], hit["token_source"]) == ("node-user-at", "cache")
            assert token_posts(emu) == 0
            refreshed = await app.acquire_token_silent(USER_SCOPES, account, force_refresh=True)
            assert refreshed is not None
            assert refreshed["token_source"] == "identity_provider", refreshed
        rts = json.loads(cache.serialize())["RefreshToken"].values()
        assert sorted(rt["environment"] for rt in rts) == sorted(["127.0.0.1", netloc(emu)])

    run(main())
