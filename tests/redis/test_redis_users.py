"""User tokens through RedisTokenCache against the emulator: sign in on one machine, use
the account's tokens on another, rotate the refresh token, sign out everywhere."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import identitylib
from identitylib._cache._serialization import load_state
from identitylib._redis import RedisTokenCache
from identitylib.emulator import DEMO_CLI_ID, Emulator

BOB = ("bob@contoso.onmicrosoft.com", "bob-password")
GRAPH = ["User.Read"]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def public_app(emu: Emulator, cache: RedisTokenCache) -> identitylib.PublicClientApplication:
    return identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=cache
    )


def refresh_tokens(client: Any, key: str) -> list[str]:
    state = load_state(client.get(key))
    return [entry["secret"] for entry in state.get("RefreshToken", {}).values()]


def test_a_user_signed_in_on_one_machine_is_served_on_another(
    emu: Emulator, redis_url: str, redis_client: Any
) -> None:
    first = public_app(emu, RedisTokenCache(url=redis_url, first_level_ttl=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        signed_in = first.acquire_token_by_username_password(*BOB, GRAPH)
    assert "access_token" in signed_in, signed_in
    home = signed_in["id_token_claims"]["oid"] + "." + signed_in["id_token_claims"]["tid"]
    key = f"identitylib:partition:{home}"
    (rt_before,) = refresh_tokens(redis_client, key)
    # The web app keeps only the home account id in its session.
    account = {"home_account_id": home}

    second = public_app(emu, RedisTokenCache(url=redis_url))
    hit = second.acquire_token_silent(GRAPH, account)
    assert hit is not None
    assert hit["token_source"] == "cache"
    assert hit["access_token"] == signed_in["access_token"]

    refreshed = second.acquire_token_silent(GRAPH, account, force_refresh=True)
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider", refreshed
    (rt_after,) = refresh_tokens(redis_client, key)
    assert rt_after != rt_before  # the rotated refresh token replaced the old one
    again = first.acquire_token_silent(GRAPH, account)
    assert again is not None
    assert again["access_token"] == refreshed["access_token"]

    second.remove_account(account)
    assert redis_client.exists(key) == 0
    assert first.acquire_token_silent(GRAPH, account) is None
