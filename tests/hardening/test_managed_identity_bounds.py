"""A hostile managed-identity endpoint: the same body cap and time bounds as token requests.

The hostile server plays App Service's identity endpoint (``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER``) for the blocking and the asyncio ``ManagedIdentityClient``.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import httpx
import pytest
import requests

import identitylib
import identitylib.aio
from identitylib._managed_identity import _sources

from ._hostile import HostileServer, Reply

RESOURCE = "https://management.azure.com"
IDENTITY_HEADER = "hostile-identity-header-value"
PATH = "/msi/token"


@pytest.fixture
def app_service(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> HostileServer:
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_sources, "ARC_AGENT_FILES", {})
    monkeypatch.setenv("IDENTITY_ENDPOINT", hostile.base + PATH)
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    return hostile


class FakeClock:
    """A monotonic clock that moves ``step`` seconds on every reading."""

    def __init__(self, step: float) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture(params=["sync", "async"])
def acquire(request: pytest.FixtureRequest) -> Any:
    """``acquire(clock=None)``: one token call; ``clock`` replaces the transport's clock."""
    identity = identitylib.SystemAssignedManagedIdentity()
    if request.param == "sync":

        def blocking(clock: Any = None) -> Any:
            client = identitylib.ManagedIdentityClient(identity, http_client=None)
            if clock is not None:
                client._transport._clock = clock
            return client.acquire_token_for_client(resource=RESOURCE)

        return blocking

    async def run(clock: Any) -> Any:
        async with identitylib.aio.ManagedIdentityClient(identity) as client:
            if clock is not None:
                client._async_transport._clock = clock
            return await client.acquire_token_for_client(resource=RESOURCE)

    return lambda clock=None: asyncio.run(run(clock))


TIMEOUTS = (requests.exceptions.Timeout, httpx.TimeoutException)


def requests_to(server: HostileServer) -> int:
    return server.count(PATH)


def test_a_huge_body_is_cut_not_read_whole(app_service: HostileServer, acquire: Any) -> None:
    huge = b'{"access_token": "' + b"a" * (30 << 20) + b'", "expires_in": "3600"}'
    app_service.routes[PATH] = Reply(body=huge)
    tracemalloc.start()
    try:
        result = acquire()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "access_token" not in result
    assert peak < 8 << 20
    assert requests_to(app_service) == 1


def test_a_dripped_body_ends_at_its_bound(app_service: HostileServer, acquire: Any) -> None:
    # Every socket read is quick (a byte per 10 ms); the transport's clock, racing 1 s per
    # reading, passes the 15 s read timeout of the body long before its end.
    body = {"access_token": "x" * 200, "expires_in": "3600", "resource": RESOURCE}
    app_service.routes[PATH] = Reply(body=body, drip=0.01)
    with pytest.raises(TIMEOUTS):
        acquire(clock=FakeClock(step=1.0))
    assert requests_to(app_service) == 1


def test_a_redirect_never_carries_the_secret_header(
    app_service: HostileServer, acquire: Any
) -> None:
    from ._hostile import running

    for other in running():
        app_service.routes[PATH] = Reply(307, "", {"Location": other.base + "/steal"})
        result = acquire()
        assert "access_token" not in result
        assert other.requests == []
