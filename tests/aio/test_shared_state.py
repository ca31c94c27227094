"""identitylib.aio: discovery is shared only between apps with the same trust key (see
tests/test_shared_state.py for the blocking API)."""

from __future__ import annotations

import json
from typing import Any

import httpx

import identitylib
from identitylib import aio
from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator
from tests.test_shared_state import (
    APP_SCOPES,
    CannedDiscovery,
    canned_token_endpoint,
    discoveries,
)

from ._support import run


def daemon(emu: Emulator, **kwargs: Any) -> aio.ConfidentialClientApplication:
    return aio.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), **kwargs
    )


def canned_async_client(emu: Emulator) -> httpx.AsyncClient:
    """A fake ``httpx.AsyncClient``: every request gets the canned discovery document."""
    document = CannedDiscovery(emu).document

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(document).encode())

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def test_a_fake_async_client_does_not_answer_for_a_default_app(emu: Emulator) -> None:
    async def main() -> None:
        async with canned_async_client(emu) as fake:
            poisoned = daemon(emu, http_client=fake)
            await poisoned.acquire_token_for_client(APP_SCOPES)  # discovers (canned)
            assert poisoned.authority.token_endpoint == canned_token_endpoint(emu)
            assert discoveries(emu) == 0
            async with daemon(emu) as strict:
                result = await strict.acquire_token_for_client(APP_SCOPES)
                assert result.get("token_source") == "identity_provider", result
                assert strict.authority.token_endpoint != canned_token_endpoint(emu)
            assert discoveries(emu) == 1

    run(main())


def test_a_fake_blocking_client_does_not_answer_for_a_default_app(emu: Emulator) -> None:
    fake = CannedDiscovery(emu)

    async def main() -> None:
        poisoned = daemon(emu, http_client=fake)  # requests run in worker threads
        await poisoned.acquire_token_for_client(APP_SCOPES)
        assert poisoned.authority.token_endpoint == canned_token_endpoint(emu)
        async with daemon(emu) as strict:
            result = await strict.acquire_token_for_client(APP_SCOPES)
            assert result.get("token_source") == "identity_provider", result

    run(main())
    assert fake.canned == 1
    assert discoveries(emu) == 1


def test_a_blocking_fake_does_not_answer_for_an_async_default_app_nor_back(
    emu: Emulator,
) -> None:
    fake = CannedDiscovery(emu)
    sync_poisoned = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), http_client=fake
    )
    assert sync_poisoned.authority.token_endpoint == canned_token_endpoint(emu)

    async def main() -> None:
        async with daemon(emu) as strict:
            result = await strict.acquire_token_for_client(APP_SCOPES)
            assert result.get("token_source") == "identity_provider", result

    run(main())
    assert discoveries(emu) == 1


def test_verify_false_does_not_answer_for_a_default_app(emu: Emulator) -> None:
    async def main() -> None:
        for verify in (False, True, True):
            async with daemon(emu, verify=verify) as app:
                result = await app.acquire_token_for_client(APP_SCOPES)
                assert "access_token" in result, result

    run(main())
    assert discoveries(emu) == 2  # verify=False, then one for both verify=True apps


def test_default_apps_share_one_discovery_with_each_other_and_the_sync_api(
    emu: Emulator,
) -> None:
    async def main() -> None:
        for _ in range(2):
            async with daemon(emu) as app:
                result = await app.acquire_token_for_client(APP_SCOPES)
                assert "access_token" in result, result

    run(main())
    sync_app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority()
    )
    assert "access_token" in sync_app.acquire_token_for_client(APP_SCOPES)
    assert discoveries(emu) == 1


def test_apps_sharing_one_async_client_share_one_discovery(emu: Emulator) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(2):
                result = await daemon(emu, http_client=client).acquire_token_for_client(APP_SCOPES)
                assert "access_token" in result, result
            assert discoveries(emu) == 1
        async with daemon(emu) as default:  # not the same transport: its own discovery
            assert "access_token" in await default.acquire_token_for_client(APP_SCOPES)
        assert discoveries(emu) == 2

    run(main())
