"""Single-flight, background refresh and the event-loop blocking detector."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import identitylib
from identitylib import aio
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
)
from tests._blocking import BlockingCalls

from ._support import APP_SCOPES, run, token_posts, user_assertion

GRAPH = ["User.Read"]


def daemon(emu: Emulator, **kwargs: Any) -> aio.ConfidentialClientApplication:
    return aio.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), **kwargs
    )


def test_200_tasks_on_a_cold_cache_send_one_token_request(emu: Emulator) -> None:
    async def main() -> list[dict[str, Any]]:
        app = daemon(emu)
        return await asyncio.gather(*(app.acquire_token_for_client(APP_SCOPES) for _ in range(200)))

    results = run(main())
    assert token_posts(emu) == 1
    assert len({r["access_token"] for r in results}) == 1
    assert all(r["token_source"] == "identity_provider" for r in results)
    results[0]["access_token"] = "changed"  # each caller has its own dict
    assert results[1]["access_token"] != "changed"


def test_single_flight_is_per_key(emu: Emulator) -> None:
    async def main() -> None:
        app = daemon(emu)
        other = [f"{APP_SCOPES[0]}"]
        await asyncio.gather(
            *(app.acquire_token_for_client(APP_SCOPES) for _ in range(20)),
            *(app.acquire_token_for_client(other, claims_challenge='{"access_token":{}}')
              for _ in range(20)),
        )  # fmt: skip

    run(main())
    assert token_posts(emu) == 2


def test_single_flight_for_obo_and_silent(emu: Emulator) -> None:
    assertion = user_assertion(emu)
    emu.reset_requests()

    async def main() -> None:
        app = aio.ConfidentialClientApplication(
            DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority()
        )
        results = await asyncio.gather(
            *(app.acquire_token_on_behalf_of(assertion, GRAPH) for _ in range(100))
        )
        assert len({r["access_token"] for r in results}) == 1
        assert token_posts(emu) == 1
        [account] = await app.get_accounts()
        forced = await asyncio.gather(
            *(app.acquire_token_silent(GRAPH, account, force_refresh=True) for _ in range(100))
        )
        assert all(r is not None and r["token_source"] == "identity_provider" for r in forced)
        assert token_posts(emu) == 2

    run(main())


def test_a_cancelled_caller_does_not_cancel_the_others(emu: Emulator) -> None:
    emu.faults.latency = 0.3

    async def main() -> None:
        app = daemon(emu)
        first = asyncio.create_task(app.acquire_token_for_client(APP_SCOPES))
        second = asyncio.create_task(app.acquire_token_for_client(APP_SCOPES))
        await asyncio.sleep(0.1)
        first.cancel()
        result = await second
        assert result["token_source"] == "identity_provider"

    run(main())
    assert token_posts(emu) == 1


def test_background_refresh_one_per_key(emu: Emulator) -> None:
    emu.faults.refresh_in = 1  # tokens are due for refresh a second after issue

    async def main() -> None:
        app = daemon(emu)
        first = await app.acquire_token_for_client(APP_SCOPES)
        assert first["token_source"] == "identity_provider"
        await asyncio.sleep(2.1)
        emu.faults.refresh_in = None  # the refreshed token is not due again at once
        emu.faults.hold(path_contains="/token")  # the refresh stays in flight until released
        served = await asyncio.gather(
            *(app.acquire_token_for_client(APP_SCOPES) for _ in range(50))
        )
        # All served from the cache while the one refresh is still unanswered.
        assert all(r["token_source"] == "cache" for r in served)
        assert {r["access_token"] for r in served} == {first["access_token"]}
        for _ in range(100):  # bounded: the refresh reaches the emulator
            if emu.faults.holding:
                break
            await asyncio.sleep(0.01)
        assert emu.faults.holding == 1
        emu.faults.release()
        for _ in range(100):  # the one background refresh lands in the cache
            after = await app.acquire_token_for_client(APP_SCOPES)
            assert after["token_source"] == "cache"
            if after["access_token"] != first["access_token"]:
                break
            await asyncio.sleep(0.05)
        assert after["access_token"] != first["access_token"]
        assert token_posts(emu) == 2

    run(main())


def test_without_background_refresh_a_due_token_is_refreshed_inline(emu: Emulator) -> None:
    emu.faults.refresh_in = 1

    async def main() -> None:
        app = daemon(emu, background_refresh=False)
        await app.acquire_token_for_client(APP_SCOPES)
        await asyncio.sleep(2.1)
        again = await app.acquire_token_for_client(APP_SCOPES)
        assert again["token_source"] == "identity_provider"

    run(main())


@pytest.mark.parametrize("credential", ["secret", "certificate"])
def test_no_blocking_call_on_the_hot_path(emu: Emulator, credential: str) -> None:
    cert = emu.demo_certificate
    secret: Any = (
        DEMO_DAEMON_SECRET
        if credential == "secret"
        else {"private_key": cert["private_key"], "thumbprint": cert["thumbprint"]}
    )

    async def main() -> list[str]:
        app = aio.ConfidentialClientApplication(DEMO_DAEMON_ID, secret, authority=emu.authority())
        await app.acquire_token_for_client(APP_SCOPES)  # cold: discovery, client set-up
        with BlockingCalls() as blocking:
            for _ in range(200):  # cache hits
                await app.acquire_token_for_client(APP_SCOPES)
            warm = await app.acquire_token_for_client(  # a warm token request
                APP_SCOPES, claims_challenge='{"access_token":{"xms_cc":{"values":["cp1"]}}}'
            )
            assert warm["token_source"] == "identity_provider"
            await asyncio.gather(*(app.acquire_token_for_client(APP_SCOPES) for _ in range(20)))
        return blocking.calls

    assert run(main()) == []


def test_blocking_cache_hooks_run_in_a_thread(emu: Emulator, tmp_path: Path) -> None:
    calls: list[str] = []
    stored = tmp_path / "cache.bin"
    stored.write_bytes(b"{}")

    def slow_hook(access: identitylib.CacheAccess) -> None:  # e.g. a file lock and a read
        stored.read_bytes()
        calls.append(access.partition_key or "")

    cache = identitylib.TokenCache(before_access=slow_hook, after_access=slow_hook)

    async def main() -> list[str]:
        app = daemon(emu, token_cache=cache)
        first = await app.acquire_token_for_client(APP_SCOPES)  # cold: discovery, set-up
        assert first["token_source"] == "identity_provider"
        with BlockingCalls() as blocking:
            warm = await app.acquire_token_for_client(
                APP_SCOPES, claims_challenge='{"access_token":{"xms_cc":{"values":["cp1"]}}}'
            )
            hit = await app.acquire_token_for_client(APP_SCOPES)
        assert warm["token_source"] == "identity_provider"
        assert hit["token_source"] == "cache"
        return blocking.calls

    assert run(main()) == []
    assert calls  # the hooks did run, in worker threads


def test_managed_identity_single_flight(emu: Emulator, monkeypatch: Any) -> None:
    from identitylib._managed_identity import _sources
    from identitylib.emulator._mi_sources import managed_identity_environment

    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in managed_identity_environment(emu, "imds").items():
        monkeypatch.setenv(name, value)

    async def main() -> None:
        client = aio.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity())
        results = await asyncio.gather(
            *(
                client.acquire_token_for_client(resource="https://storage.azure.com")
                for _ in range(200)
            )
        )
        assert len({r["access_token"] for r in results}) == 1
        with BlockingCalls() as blocking:
            for _ in range(100):
                await client.acquire_token_for_client(resource="https://storage.azure.com")
        assert blocking.calls == []
        await client.aclose()

    emu.reset_requests()
    run(main())
    token_gets = [p for m, p in emu.requests if "token" in p]
    assert len(token_gets) == 1, emu.requests
