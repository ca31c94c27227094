"""HttpxBearerAuth in sync and async clients, against a resource server and the emulator."""

from __future__ import annotations

import asyncio

import identitylib
from identitylib.emulator import Emulator
from tests._servers import require_module

from .conftest import SCOPES, USER_SCOPES, ResourceServer, token_requests

httpx = require_module("httpx")
from identitylib.integrations.httpx_auth import HttpxBearerAuth  # noqa: E402

App = identitylib.ConfidentialClientApplication


def test_sync_client_token_then_cache(
    emulator: Emulator, resource_server: ResourceServer, daemon_app: App
) -> None:
    with httpx.Client(auth=HttpxBearerAuth(daemon_app, SCOPES), timeout=10) as client:
        assert client.get(resource_server.url).status_code == 200
        assert client.get(resource_server.url).status_code == 200
    assert resource_server.seen[0] == resource_server.seen[1] != ""
    assert token_requests(emulator) == 1


def test_sync_client_claims_challenge_retries_once(
    emulator: Emulator, resource_server: ResourceServer, daemon_app: App
) -> None:
    resource_server.challenge_first = True
    auth = HttpxBearerAuth(daemon_app, SCOPES)
    response = httpx.post(resource_server.url, content=b"payload", auth=auth, timeout=10)
    assert response.status_code == 200
    assert resource_server.bodies == [b"payload", b"payload"]
    assert resource_server.seen[0] != resource_server.seen[1]
    assert token_requests(emulator) == 2


def test_sync_client_second_challenge_is_returned(
    resource_server: ResourceServer, daemon_app: App
) -> None:
    resource_server.challenge_always = True
    auth = HttpxBearerAuth(daemon_app, SCOPES)
    assert httpx.get(resource_server.url, auth=auth, timeout=10).status_code == 401
    assert len(resource_server.seen) == 2


def test_async_client_claims_challenge_retries_once(
    emulator: Emulator, resource_server: ResourceServer, daemon_app: App
) -> None:
    resource_server.challenge_first = True

    async def call() -> list[int]:
        auth = HttpxBearerAuth(daemon_app, SCOPES)
        async with httpx.AsyncClient(auth=auth, timeout=10) as client:
            first = await client.get(resource_server.url)
            second = await client.get(resource_server.url)
        return [first.status_code, second.status_code]

    assert asyncio.run(asyncio.wait_for(call(), 30)) == [200, 200]
    assert len(resource_server.seen) == 3
    assert resource_server.seen[0] != resource_server.seen[1] == resource_server.seen[2]


def test_async_client_user_token(
    resource_server: ResourceServer, signed_in_app: identitylib.PublicClientApplication
) -> None:
    async def call() -> int:
        auth = HttpxBearerAuth(signed_in_app, USER_SCOPES)
        async with httpx.AsyncClient(auth=auth, timeout=10) as client:
            response = await client.get(resource_server.url)
            return int(response.status_code)

    assert asyncio.run(asyncio.wait_for(call(), 30)) == 200


def test_async_client_with_an_aio_application(
    emulator: Emulator, resource_server: ResourceServer
) -> None:
    aio = require_module("identitylib.aio")
    from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET

    resource_server.challenge_first = True

    async def call() -> list[int]:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, client_credential=DEMO_DAEMON_SECRET, authority=emulator.authority()
        ) as app:
            auth = HttpxBearerAuth(app, SCOPES)
            async with httpx.AsyncClient(auth=auth, timeout=10) as client:
                first = await client.get(resource_server.url)
                second = await client.get(resource_server.url)
        return [first.status_code, second.status_code]

    assert asyncio.run(asyncio.wait_for(call(), 30)) == [200, 200]
    assert resource_server.seen[0] != resource_server.seen[1] == resource_server.seen[2]
    assert token_requests(emulator) == 2
