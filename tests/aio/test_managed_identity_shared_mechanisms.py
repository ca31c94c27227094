"""The asyncio managed-identity client runs the shared acquisition flow on the event loop,
with the shared throttle (bounded in memory) and single-flight (a waiting caller bounded by
one request's deadline); the blocking twins are in tests/test_managed_identity_shared_mechanisms.py.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

import identitylib
from identitylib import aio
from identitylib._managed_identity._transport import DEFAULT_DEADLINE
from identitylib._transport._throttle import MAX_MEMORY_RECORDS
from identitylib.aio._flight import SingleFlight
from identitylib.emulator import Emulator
from identitylib.emulator._mi_sources import managed_identity_environment

from ._support import run

RESOURCE = "https://management.azure.com"
IMDS = "http://169.254.169.254/metadata/identity/oauth2/token"
#: How long a held request waits to be released: only bounds the test if it goes wrong.
HOLD = 5.0
TOKEN = {"access_token": "at", "expires_in": "3600", "token_type": "Bearer"}


def imds_env(emu: Emulator, env: pytest.MonkeyPatch) -> None:
    for name, value in managed_identity_environment(emu, "imds").items():
        env.setenv(name, value)


def token_gets(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if "/metadata/identity" in path)


class RecordingCache(identitylib.TokenCache):
    """Notes the thread of every cache write."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: list[int] = []

    def add(self, event: Any, now: Any = None) -> None:
        self.writers.append(threading.get_ident())
        super().add(event, now=now)


def test_a_miss_runs_on_the_loop_with_the_default_transport(
    emu: Emulator, mi_env: pytest.MonkeyPatch
) -> None:
    imds_env(emu, mi_env)
    cache = RecordingCache()

    async def main() -> dict[str, Any]:
        async with aio.ManagedIdentityClient(
            identitylib.SystemAssignedManagedIdentity(), token_cache=cache
        ) as client:
            return await client.acquire_token_for_client(resource=RESOURCE)

    result = run(main())
    assert result["token_source"] == "identity_provider"
    assert cache.writers == [threading.get_ident()]  # the loop's thread, no worker thread


def test_the_throttle_store_is_bounded_without_an_http_cache(mi_env: pytest.MonkeyPatch) -> None:
    requests_sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests_sent.append(str(request.url))
        body = {"error": "throttled", "error_description": "slow down"}
        return httpx.Response(429, json=body, headers={"Retry-After": "600"})

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = aio.ManagedIdentityClient(
                identitylib.SystemAssignedManagedIdentity(), http_client=http
            )
            resources = [f"https://r{n}.example" for n in range(MAX_MEMORY_RECORDS + 1)]
            for resource in resources:
                result = await client.acquire_token_for_client(resource=resource)
                assert result["error"] == "throttled"
            assert len(requests_sent) == len(resources)
            await client.acquire_token_for_client(resource=resources[-1])  # remembered
            assert len(requests_sent) == len(resources)
            await client.acquire_token_for_client(resource=resources[0])  # dropped: sent
            assert len(requests_sent) == len(resources) + 1

    run(main())


def test_a_waiting_caller_sends_its_own_request_once_the_deadline_is_over(
    mi_env: pytest.MonkeyPatch,
) -> None:
    limits: list[float] = []

    async def timed_out(awaitable: Any, seconds: float) -> Any:
        """An injected wait that ends at once, as if ``seconds`` had passed."""
        raise asyncio.TimeoutError

    class Client(aio.ManagedIdentityClient):
        def _single_flight(self, limit: float) -> SingleFlight:
            limits.append(limit)
            return SingleFlight(limit, wait_within=timed_out)

    async def main() -> None:
        leader_sent, release = asyncio.Event(), asyncio.Event()
        sent: list[str] = []

        async def handler(request: httpx.Request) -> httpx.Response:
            sent.append(str(request.url))
            if len(sent) == 1:
                leader_sent.set()
                await asyncio.wait_for(release.wait(), HOLD)
            return httpx.Response(200, json={**TOKEN, "access_token": f"at{len(sent)}"})

        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = Client(identitylib.SystemAssignedManagedIdentity(), http_client=http)
            leader = asyncio.ensure_future(client.acquire_token_for_client(resource=RESOURCE))
            await asyncio.wait_for(leader_sent.wait(), HOLD)
            follower = await asyncio.wait_for(
                client.acquire_token_for_client(resource=RESOURCE), HOLD
            )
            assert len(sent) == 2  # the follower's own, while the leader's is held
            assert follower["token_source"] == "identity_provider"
            release.set()
            assert (await leader)["token_source"] == "identity_provider"

    run(main())
    assert limits == [DEFAULT_DEADLINE]


def test_concurrent_misses_make_one_request(emu: Emulator, mi_env: pytest.MonkeyPatch) -> None:
    imds_env(emu, mi_env)

    async def main() -> list[dict[str, Any]]:
        async with aio.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity()) as client:
            return list(
                await asyncio.gather(
                    *(client.acquire_token_for_client(resource=RESOURCE) for _ in range(20))
                )
            )

    results = run(main())
    assert token_gets(emu) == 1
    assert len({r["access_token"] for r in results}) == 1


def test_a_token_due_for_refresh_is_served_and_refreshed_in_the_background(
    mi_env: pytest.MonkeyPatch,
) -> None:
    async def main() -> None:
        refreshed = asyncio.Event()
        sent: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(str(request.url))
            if len(sent) == 2:
                refreshed.set()
            body = {**TOKEN, "access_token": f"at{len(sent)}", "expires_in": "7200"}
            return httpx.Response(200, json=body)

        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = aio.ManagedIdentityClient(
                identitylib.SystemAssignedManagedIdentity(), http_client=http
            )
            first = await client.acquire_token_for_client(resource=RESOURCE)
            assert (first["access_token"], first["refresh_in"]) == ("at1", 3600)
            start = client._state.now()
            client._state.now = lambda: start + 3700  # past refresh_on, far from expiry
            due = await client.acquire_token_for_client(resource=RESOURCE)
            assert (due["access_token"], due["token_source"]) == ("at1", "cache")
            await asyncio.wait_for(refreshed.wait(), HOLD)
            for _ in range(100):  # the refresh's cache write follows its answer
                later = await client.acquire_token_for_client(resource=RESOURCE)
                if later["access_token"] == "at2":
                    break
                await asyncio.sleep(0)
            assert (later["access_token"], later["token_source"]) == ("at2", "cache")
            assert len(sent) == 2

    run(main())
