"""An https authority never sends anything to a plain-http endpoint, loopback hosts included.

The TLS emulator serves a discovery document naming an ``http://`` endpoint on its own
loopback host; the call must end with the ``invalid_authority`` error result of the other
discovery refusals, before any token request. Plain http stays usable when the authority
itself is http on a loopback host (the emulator without TLS, used by most tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

import identitylib
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator
from tests._servers import require_module

SCOPES = [f"{DEMO_API_URI}/.default"]
ENDPOINTS = [
    "token_endpoint",
    "authorization_endpoint",
    "device_authorization_endpoint",
    "end_session_endpoint",
    "jwks_uri",
]


@pytest.fixture
def emu_tls(identitylib_emulator_tls: Emulator) -> Iterator[Emulator]:
    """The session's TLS emulator with no faults and an empty request log."""
    identitylib_emulator_tls.faults.reset()
    identitylib_emulator_tls.reset_requests()
    yield identitylib_emulator_tls
    identitylib_emulator_tls.faults.reset()


def kwargs_for(emu: Emulator, kind: str) -> dict[str, Any]:
    """The authority arguments of an Entra-style or a generic OIDC app on ``emu``."""
    if kind == "entra":
        return {"authority": emu.authority()}
    return {"oidc_authority": f"{emu.authority()}/v2.0"}


def serve_downgraded_discovery(emu: Emulator, kind: str, field: str) -> str:
    """Make the next discovery answer name ``field`` over http on the same loopback host."""
    url = f"{emu.authority()}/v2.0/.well-known/openid-configuration"
    document = requests.get(url, verify=emu.ca_path, timeout=10).json()
    assert document[field].startswith("https://localhost:")
    downgraded = "http://" + document[field][len("https://") :]
    document[field] = downgraded
    emu.faults.inject(200, body=document, path_contains="openid-configuration")
    emu.reset_requests()
    return downgraded


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST")


def assert_refused(result: dict[str, Any], field: str) -> None:
    assert result["error"] == "invalid_authority", result
    assert "plain-http" in result["error_description"]
    assert field in result["error_description"]
    assert "access_token" not in result


@pytest.mark.parametrize("kind", ["entra", "oidc"])
@pytest.mark.parametrize("field", ENDPOINTS)
def test_https_authority_refuses_an_http_endpoint(emu_tls: Emulator, kind: str, field: str) -> None:
    serve_downgraded_discovery(emu_tls, kind, field)
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, verify=emu_tls.ca_path, **kwargs_for(emu_tls, kind)
    )
    assert_refused(app.acquire_token_for_client(SCOPES), field)
    assert token_posts(emu_tls) == 0
    # The same app, once discovery names https endpoints again, gets its token.
    assert "access_token" in app.acquire_token_for_client(SCOPES)
    assert token_posts(emu_tls) == 1


@pytest.mark.parametrize("kind", ["entra", "oidc"])
@pytest.mark.parametrize("field", ["token_endpoint", "jwks_uri"])
def test_https_authority_refuses_an_http_endpoint_async(
    emu_tls: Emulator, kind: str, field: str
) -> None:
    require_module("httpx")
    from identitylib import aio

    serve_downgraded_discovery(emu_tls, kind, field)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, verify=emu_tls.ca_path, **kwargs_for(emu_tls, kind)
        ) as app:
            refused = await app.acquire_token_for_client(SCOPES)
            posts = token_posts(emu_tls)
            return refused, {"posts": posts, **await app.acquire_token_for_client(SCOPES)}

    refused, then = asyncio.run(main())
    assert_refused(refused, field)
    assert then["posts"] == 0
    assert "access_token" in then
    assert token_posts(emu_tls) == 1


def test_http_loopback_authority_may_use_http_endpoints(identitylib_emulator: Emulator) -> None:
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=identitylib_emulator.authority()
    )
    assert app.authority.token_endpoint.startswith("http://127.0.0.1:")
    assert "access_token" in app.acquire_token_for_client(SCOPES)


# ------------------------------------------------------------------ instance discovery

HOST = "login.contoso.test"  # neither well known nor loopback: instance discovery runs
INSTANCE = "https://login.microsoftonline.com/common/discovery/instance"
TENANT = "contoso.onmicrosoft.com"


def answer_instance_discovery(http: responses.RequestsMock, tenant_discovery: str) -> None:
    http.get(
        INSTANCE,
        json={"tenant_discovery_endpoint": tenant_discovery, "api-version": "1.1"},
    )


@pytest.mark.parametrize("api", ["sync", "async"])
def test_instance_discovery_naming_an_http_endpoint_is_refused(
    http: responses.RequestsMock, api: str
) -> None:
    answer_instance_discovery(
        http, f"http://localhost:8443/{TENANT}/v2.0/.well-known/openid-configuration"
    )
    authority = f"https://{HOST}/{TENANT}"
    if api == "sync":
        app = identitylib.ConfidentialClientApplication(
            DEMO_DAEMON_ID, "secret", authority=authority
        )
        result = app.acquire_token_for_client(SCOPES)
    else:
        require_module("httpx")
        from identitylib import aio

        async def main() -> dict[str, Any]:
            async with aio.ConfidentialClientApplication(
                DEMO_DAEMON_ID, "secret", authority=authority, http_client=requests.Session()
            ) as app:
                return await app.acquire_token_for_client(SCOPES)

        result = asyncio.run(main())
    assert_refused(result, "tenant_discovery_endpoint")
    assert [call.request.url.split("?")[0] for call in http.calls] == [INSTANCE]


def test_instance_discovery_naming_an_https_endpoint_is_followed(
    http: responses.RequestsMock,
) -> None:
    base = f"https://{HOST}"
    answer_instance_discovery(http, f"{base}/{TENANT}/v2.0/.well-known/openid-configuration")
    config = {
        "issuer": f"{base}/{TENANT}/v2.0",
        "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
    }
    http.get(f"{base}/{TENANT}/v2.0/.well-known/openid-configuration", json=config)
    http.post(config["token_endpoint"], json={"access_token": "at", "expires_in": 60})
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, "secret", authority=f"{base}/{TENANT}"
    )
    assert app.acquire_token_for_client(SCOPES)["access_token"] == "at"
