"""The managed identity clients' cache lane, both APIs: a plain call's cache hit is answered
by the lane the token applications use (``identitylib/_managed_identity/_lane.py``), before
the single-flight (no flight, and in ``identitylib.aio`` no task); everything else (misses,
other resources or identities, claims challenges, expiry, a due refresh, a replaced clock, a
cache with hooks) goes the full way as before.

The emulator serves IMDS; each test clears this machine's managed identity variables.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Hashable
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import pytest

import identitylib
from identitylib import aio
from identitylib._flows import _single_flight
from identitylib._flows._state import AppState
from identitylib._managed_identity import _arc, _sources
from identitylib._protocol._messages import Flow
from identitylib.aio import _flight
from identitylib.emulator import DEMO_MI_CLIENT_ID, Emulator
from identitylib.emulator._mi_sources import managed_identity_environment

T = TypeVar("T")
APIS = ["sync", "aio"]
RESOURCE = "https://management.azure.com"
OTHER_RESOURCE = "https://vault.azure.net"
CLAIMS = '{"access_token": {"nbf": {"essential": true}}}'
IDENTITIES: dict[str, Callable[[], Any]] = {
    "system-assigned": identitylib.SystemAssignedManagedIdentity,  # cached with client_id None
    "system-assigned dict": lambda: {"ManagedIdentityIdType": "SystemAssigned"},
    "user-assigned": lambda: identitylib.UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID),
}


@pytest.fixture
def imds(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Emulator:
    """The emulator as this machine's only managed identity source (IMDS)."""
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_sources, "ARC_AGENT_FILES", {})
    monkeypatch.setitem(_arc.ARC_TOKEN_DIRECTORIES, sys.platform, str(tmp_path / "tokens"))
    for name, value in managed_identity_environment(emulator, "imds").items():
        monkeypatch.setenv(name, value)
    return emulator


@pytest.fixture(autouse=True)
def clocks_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a process where no test replaced a clock: the lane reads the wall clock until
    a client's clock is replaced (whatever other tests did before this one)."""
    monkeypatch.setattr(AppState, "clocks_replaced", False)


def token_gets(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if "/metadata/identity" in path)


class CountedFlights(_single_flight.SingleFlight):
    """The blocking client's single-flight, counting the calls that enter it."""

    entered = 0

    def coalesce(self, key: Hashable, make_flow: Callable[[], Flow[T]]) -> Flow[T]:
        self.entered += 1
        return super().coalesce(key, make_flow)


class CountedAsyncFlights(_flight.SingleFlight):
    """The asyncio client's single-flight, counting the calls that enter it."""

    entered = 0

    def __init__(self, limit: float) -> None:
        super().__init__(limit)
        self.started: list[asyncio.Task[Any]] = []

    async def run(self, key: Optional[Hashable], work: Callable[[], Awaitable[T]]) -> T:
        self.entered += 1
        return await super().run(key, work)

    def _start(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        task = super()._start(key, work)
        self.started.append(task)
        return task


class Counted(identitylib.ManagedIdentityClient):
    def _coalescing(self, limit: float) -> CountedFlights:
        self.flights = CountedFlights(limit)
        return self.flights


class CountedAsync(aio.ManagedIdentityClient):
    def _single_flight(self, limit: float) -> CountedAsyncFlights:
        self.flights = CountedAsyncFlights(limit)
        return self.flights


class Calls:
    """Calls of one client of either API; the asyncio ones on one event loop, counting the
    tasks made while the loop runs them."""

    def __init__(self, api: str, **client_options: Any) -> None:
        self.api = api
        self.client_options = client_options
        self.tasks = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def settle(self, client: Any) -> None:
        """Wait for the asyncio client's shared and background work to end."""
        if self._loop is not None and client.flights.started:
            _on_loop(self._loop, asyncio.wait(client.flights.started))

    def run(self, script: Callable[[Any, Callable[..., Any]], T]) -> T:
        """``script(client, acquire)``: ``acquire(**arguments)`` returns the result."""
        if self.api == "sync":
            with_sync: Any = Counted(**self.client_options)
            return script(with_sync, lambda **arguments: with_sync.acquire_token_for_client(
                **arguments
            ))  # fmt: skip
        return asyncio.run(self._run_async(script))

    async def _run_async(self, script: Callable[[Any, Callable[..., Any]], T]) -> T:
        loop = self._loop = asyncio.get_running_loop()

        def counting(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> Any:
            self.tasks += 1
            return asyncio.Task(coro, loop=loop, **options)

        loop.set_task_factory(counting)
        client = CountedAsync(**self.client_options)

        def acquire(**arguments: Any) -> Any:
            # Each call on the loop, as the application makes it (the task count spans it).
            return _on_loop(loop, client.acquire_token_for_client(**arguments))

        try:
            return await asyncio.to_thread(script, client, acquire)
        finally:
            await client.aclose()


def _on_loop(loop: asyncio.AbstractEventLoop, call: Awaitable[Any]) -> Any:
    async def awaited() -> Any:
        return await call

    return asyncio.run_coroutine_threadsafe(awaited(), loop).result(timeout=60)


# ---------------------------------------------------------------------- the lane answers


@pytest.mark.parametrize("identity", sorted(IDENTITIES))
@pytest.mark.parametrize("api", APIS)
def test_a_hit_enters_no_single_flight_and_makes_no_task(
    imds: Emulator, api: str, identity: str
) -> None:
    calls = Calls(api, managed_identity=IDENTITIES[identity]())

    def script(client: Any, acquire: Callable[..., Any]) -> tuple[list[Any], int, int]:
        miss = acquire(resource=RESOURCE)
        entered, tasks = client.flights.entered, calls.tasks
        hits = [acquire(resource=RESOURCE) for _ in range(3)]
        return [miss, *hits], client.flights.entered - entered, calls.tasks - tasks

    results, flights_entered, tasks_made = calls.run(script)
    assert [r["token_source"] for r in results] == ["identity_provider"] + ["cache"] * 3
    assert {r["access_token"] for r in results} == {results[0]["access_token"]}
    assert flights_entered == 0
    if api == "aio":
        # Each call is one task of its own (it is run on the loop from this test's
        # thread); a hit adds none to it, a flight would add its shared task.
        assert tasks_made == 3
    assert token_gets(imds) == 1


@pytest.mark.parametrize("api", APIS)
def test_lane_hits_are_counted_in_the_totals(imds: Emulator, api: str) -> None:
    calls = Calls(api, managed_identity=identitylib.SystemAssignedManagedIdentity())

    def script(client: Any, acquire: Callable[..., Any]) -> Any:
        for _ in range(3):
            acquire(resource=RESOURCE)
        return client.get_token_totals()

    totals = calls.run(script)
    assert (totals.tokens_from_identity_provider, totals.tokens_from_cache) == (1, 2)
    assert totals.errors == 0


# ---------------------------------------------------------------- the full way, as before


@pytest.mark.parametrize("api", APIS)
def test_each_resource_and_identity_has_its_own_tokens(imds: Emulator, api: str) -> None:
    cache = identitylib.TokenCache()
    user_assigned = identitylib.UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID)
    system = Calls(api, managed_identity=identitylib.SystemAssignedManagedIdentity(),
                   token_cache=cache)  # fmt: skip
    user = Calls(api, managed_identity=user_assigned, token_cache=cache)

    def first(client: Any, acquire: Callable[..., Any]) -> list[str]:
        return [acquire(resource=r)["token_source"] for r in (RESOURCE, OTHER_RESOURCE, RESOURCE)]

    assert system.run(first) == ["identity_provider", "identity_provider", "cache"]
    assert user.run(first) == ["identity_provider", "identity_provider", "cache"]
    assert token_gets(imds) == 4
    assert len(list(cache.search("AccessToken"))) == 4


@pytest.mark.parametrize("api", APIS)
def test_a_claims_challenge_skips_the_lane(imds: Emulator, api: str) -> None:
    calls = Calls(api, managed_identity=identitylib.SystemAssignedManagedIdentity())

    def script(client: Any, acquire: Callable[..., Any]) -> list[str]:
        first = acquire(resource=RESOURCE)
        challenged = acquire(resource=RESOURCE, claims_challenge=CLAIMS)
        after = acquire(resource=RESOURCE)
        assert challenged["access_token"] != first["access_token"]
        assert after["access_token"] == challenged["access_token"]
        return [r["token_source"] for r in (first, challenged, after)]

    assert calls.run(script) == ["identity_provider", "identity_provider", "cache"]
    assert token_gets(imds) == 2


@pytest.mark.parametrize("api", APIS)
def test_the_lane_serves_what_the_full_way_would(imds: Emulator, api: str) -> None:
    """The lookup matches a resource case-insensitively, as the request key does, but
    does not strip it: a resource with surrounding spaces finds no cached token."""
    calls = Calls(api, managed_identity=identitylib.SystemAssignedManagedIdentity())

    def script(client: Any, acquire: Callable[..., Any]) -> list[str]:
        resources = (RESOURCE, RESOURCE.upper(), f" {RESOURCE}")
        return [acquire(resource=resource)["token_source"] for resource in resources]

    assert calls.run(script) == ["identity_provider", "cache", "identity_provider"]


@pytest.mark.parametrize("api", APIS)
def test_a_replaced_clock_is_read_by_the_lane(imds: Emulator, api: str) -> None:
    """An expiring token (the client's clock moved on) is not served: a new one is fetched."""
    calls = Calls(api, managed_identity=identitylib.SystemAssignedManagedIdentity())

    def script(client: Any, acquire: Callable[..., Any]) -> list[str]:
        first = acquire(resource=RESOURCE)
        moment = client._state.now()
        client._state.now = lambda: moment + 3600 - 299  # less than 5 minutes left
        later = acquire(resource=RESOURCE)
        return [first["token_source"], later["token_source"]]

    assert calls.run(script) == ["identity_provider", "identity_provider"]
    assert token_gets(imds) == 2


@pytest.mark.parametrize("api", APIS)
def test_a_token_due_for_refresh_is_refreshed_as_before(imds: Emulator, api: str) -> None:
    """Blocking: refreshed in line. asyncio: served, and refreshed in the background."""
    imds.faults.access_token_lifetime = 7200  # refresh_in: 3600
    calls = Calls(api, managed_identity=identitylib.SystemAssignedManagedIdentity())

    def script(client: Any, acquire: Callable[..., Any]) -> list[dict[str, Any]]:
        first = acquire(resource=RESOURCE)
        assert first["refresh_in"] == 3600
        hit = acquire(resource=RESOURCE)
        entered = client.flights.entered
        moment = client._state.now()
        client._state.now = lambda: moment + 3700  # past refresh_on, far from expiry
        due = acquire(resource=RESOURCE)
        assert client.flights.entered == entered + 1  # the full way
        calls.settle(client)  # (asyncio: the background refresh)
        return [first, hit, due]

    first, hit, due = calls.run(script)
    assert hit["token_source"] == "cache"
    assert hit["refresh_on"] == first["refresh_on"]
    if api == "sync":
        assert due["token_source"] == "identity_provider"
        assert due["access_token"] != first["access_token"]
    else:
        assert (due["token_source"], due["access_token"]) == ("cache", first["access_token"])
    assert token_gets(imds) == 2


@pytest.mark.parametrize("api", APIS)
def test_a_cache_with_hooks_is_not_read_by_the_lane(imds: Emulator, api: str) -> None:
    """Its hooks must run (and may reload it) on every call: the full way each time."""
    accesses: list[str] = []
    cache = identitylib.SerializableTokenCache(before_access=lambda access: accesses.append("b"))
    calls = Calls(api, managed_identity=identitylib.SystemAssignedManagedIdentity(),
                  token_cache=cache)  # fmt: skip

    def script(client: Any, acquire: Callable[..., Any]) -> tuple[list[str], int]:
        sources = [acquire(resource=RESOURCE)["token_source"] for _ in range(3)]
        return sources, client.flights.entered

    sources, entered = calls.run(script)
    assert sources == ["identity_provider", "cache", "cache"]
    assert entered == 3
    assert len(accesses) >= 3
