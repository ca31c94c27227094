"""IdentitylibCredential in real azure-core pipelines (BearerTokenCredentialPolicy)."""

from __future__ import annotations

import asyncio
import time

import pytest

import identitylib
from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, DEMO_TENANT_ID, Emulator
from tests._servers import require_module

from .conftest import SCOPES, ResourceServer, token_requests

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("azure.core")
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline import AsyncPipeline, Pipeline
from azure.core.pipeline.policies import (
    AsyncBearerTokenCredentialPolicy,
    BearerTokenCredentialPolicy,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from identitylib.integrations.azure_core import (
    AsyncIdentitylibCredential,
    IdentitylibCredential,
)

App = identitylib.ConfidentialClientApplication


def _pipeline(credential: IdentitylibCredential) -> Pipeline:  # type: ignore[type-arg]
    policy = BearerTokenCredentialPolicy(credential, *SCOPES, enable_cae=True)
    return Pipeline(transport=RequestsTransport(), policies=[policy])


def test_get_token_and_get_token_info(daemon_app: App) -> None:
    credential = IdentitylibCredential(daemon_app)
    token = credential.get_token(*SCOPES)
    info = credential.get_token_info(*SCOPES)
    assert token.token == info.token  # the second one from the cache
    assert info.token_type == "Bearer"
    assert time.time() < info.expires_on <= time.time() + 2 * 3600
    assert abs(token.expires_on - info.expires_on) <= 2


def test_pipeline_sends_the_token_and_caches_it(
    emulator: Emulator, resource_server: ResourceServer, daemon_app: App
) -> None:
    with _pipeline(IdentitylibCredential(daemon_app)) as pipeline:
        for _ in range(2):
            response = pipeline.run(
                HttpRequest("GET", resource_server.url), enforce_https=False
            ).http_response
            assert response.status_code == 200
    assert resource_server.seen[0] == resource_server.seen[1] != ""
    assert token_requests(emulator) == 1


def test_pipeline_answers_a_cae_claims_challenge(
    emulator: Emulator, resource_server: ResourceServer, daemon_app: App
) -> None:
    resource_server.challenge_first = True
    with _pipeline(IdentitylibCredential(daemon_app)) as pipeline:
        response = pipeline.run(
            HttpRequest("GET", resource_server.url), enforce_https=False
        ).http_response
    assert response.status_code == 200
    assert resource_server.seen[0] != resource_server.seen[1]
    assert token_requests(emulator) == 2


def test_failure_is_a_client_authentication_error(emulator: Emulator) -> None:
    app = identitylib.ConfidentialClientApplication(
        "not-an-app", client_credential="x", authority=emulator.authority()
    )
    with pytest.raises(ClientAuthenticationError):
        IdentitylibCredential(app).get_token(*SCOPES)


def test_other_tenant_is_refused_before_any_token_request(
    emulator: Emulator, daemon_app: App
) -> None:
    credential = IdentitylibCredential(daemon_app)
    with pytest.raises(ClientAuthenticationError, match="tenant"):
        credential.get_token(*SCOPES, tenant_id="someone-else")
    with pytest.raises(ClientAuthenticationError, match="tenant"):
        credential.get_token_info(*SCOPES, options={"tenant_id": "someone-else"})
    assert token_requests(emulator) == 0
    assert not list(daemon_app.token_cache.search("AccessToken"))
    credential.get_token(*SCOPES, tenant_id=DEMO_TENANT_ID)  # the app's own tenant


def test_async_other_tenant_is_refused_before_any_token_request(
    emulator: Emulator, daemon_app: App
) -> None:
    async def call() -> None:
        credential = AsyncIdentitylibCredential(daemon_app)
        with pytest.raises(ClientAuthenticationError, match="tenant"):
            await credential.get_token(*SCOPES, tenant_id="someone-else")
        with pytest.raises(ClientAuthenticationError, match="tenant"):
            await credential.get_token_info(*SCOPES, options={"tenant_id": "someone-else"})

    asyncio.run(asyncio.wait_for(call(), 30))
    assert token_requests(emulator) == 0


def _cached_tokens(app: App) -> set[str]:
    return {entry["secret"] for entry in app.token_cache.search("AccessToken")}


def _cae_app(emulator: Emulator) -> App:
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID,
        client_credential=DEMO_DAEMON_SECRET,
        authority=emulator.authority(),
        client_capabilities=["CP1"],
    )


def test_enable_cae_is_served_by_the_cae_app(emulator: Emulator, daemon_app: App) -> None:
    cae_app = _cae_app(emulator)
    credential = IdentitylibCredential(daemon_app, cae_app=cae_app)
    cae = credential.get_token(*SCOPES, enable_cae=True)
    cae_info = credential.get_token_info(*SCOPES, options={"enable_cae": True})
    plain = credential.get_token(*SCOPES)
    plain_info = credential.get_token_info(*SCOPES)
    assert cae.token == cae_info.token != plain.token == plain_info.token
    assert _cached_tokens(cae_app) == {cae.token}
    assert _cached_tokens(daemon_app) == {plain.token}
    assert token_requests(emulator) == 2
    with pytest.raises(ClientAuthenticationError, match="tenant"):
        credential.get_token(*SCOPES, enable_cae=True, tenant_id="someone-else")


def test_async_enable_cae_is_served_by_the_cae_app(emulator: Emulator, daemon_app: App) -> None:
    cae_app = _cae_app(emulator)

    async def call() -> tuple[str, str, str]:
        credential = AsyncIdentitylibCredential(daemon_app, cae_app=cae_app)
        cae = await credential.get_token(*SCOPES, enable_cae=True)
        info = await credential.get_token_info(*SCOPES, options={"enable_cae": True})
        plain = await credential.get_token(*SCOPES)
        return cae.token, info.token, plain.token

    cae, info, plain = asyncio.run(asyncio.wait_for(call(), 30))
    assert cae == info != plain
    assert _cached_tokens(cae_app) == {cae}
    assert _cached_tokens(daemon_app) == {plain}


def test_without_a_cae_app_enable_cae_is_served_by_the_app(daemon_app: App) -> None:
    credential = IdentitylibCredential(daemon_app)
    token = credential.get_token(*SCOPES, enable_cae=True)
    assert credential.get_token(*SCOPES).token == token.token
    assert _cached_tokens(daemon_app) == {token.token}


def test_async_pipeline_with_the_async_policy(
    emulator: Emulator, resource_server: ResourceServer, daemon_app: App
) -> None:
    from azure.core.pipeline.transport import AsyncioRequestsTransport

    resource_server.challenge_first = True

    async def call() -> list[int]:
        credential = AsyncIdentitylibCredential(daemon_app)
        policy = AsyncBearerTokenCredentialPolicy(credential, *SCOPES, enable_cae=True)
        statuses: list[int] = []
        async with AsyncPipeline(
            transport=AsyncioRequestsTransport(), policies=[policy]
        ) as pipeline:
            for _ in range(2):
                result = await pipeline.run(
                    HttpRequest("GET", resource_server.url), enforce_https=False
                )
                statuses.append(result.http_response.status_code)
        return statuses

    assert asyncio.run(asyncio.wait_for(call(), 30)) == [200, 200]
    assert token_requests(emulator) == 2


def test_async_credential_directly(daemon_app: App) -> None:
    async def call() -> tuple[str, str]:
        async with AsyncIdentitylibCredential(daemon_app) as credential:
            token = await credential.get_token(*SCOPES)
            info = await credential.get_token_info(*SCOPES)
        return token.token, info.token

    first, second = asyncio.run(asyncio.wait_for(call(), 30))
    assert first == second


def test_async_pipeline_with_an_aio_application(
    emulator: Emulator, resource_server: ResourceServer
) -> None:
    aio = require_module("identitylib.aio")
    from azure.core.pipeline.transport import AsyncioRequestsTransport

    from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET

    resource_server.challenge_first = True

    async def call() -> list[int]:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, client_credential=DEMO_DAEMON_SECRET, authority=emulator.authority()
        ) as app:
            credential = AsyncIdentitylibCredential(app)
            policy = AsyncBearerTokenCredentialPolicy(credential, *SCOPES, enable_cae=True)
            statuses: list[int] = []
            transport = AsyncioRequestsTransport()
            async with AsyncPipeline(transport=transport, policies=[policy]) as pipeline:
                for _ in range(2):
                    request = HttpRequest("GET", resource_server.url)
                    result = await pipeline.run(request, enforce_https=False)
                    statuses.append(result.http_response.status_code)
            return statuses

    assert asyncio.run(asyncio.wait_for(call(), 30)) == [200, 200]
    assert resource_server.seen[0] != resource_server.seen[1]
    assert token_requests(emulator) == 2
