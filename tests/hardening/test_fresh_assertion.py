"""Every token request carries a freshly signed client assertion (a new ``jti``).

Providers that enforce single use of a ``jti`` (oidc-provider does, and the emulator with
``provider.options.reject_assertion_replay``) refuse an assertion sent twice, so a
certificate credential must sign one per request, in the blocking and the asyncio API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses

import identitylib
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, Emulator
from tests._servers import require_module
from tests.certs import cert_pem, key_pem, pki
from tests.conftest import CLIENT_ID, TENANT, add_discovery

SCOPES = [f"{DEMO_API_URI}/.default"]
FORMS = ["thumbprint", "public_certificate"]  # RS256 + x5t, PS256 + x5t#S256


def jti_of(assertion: str) -> str:
    return str(jwt.decode(assertion, options={"verify_signature": False})["jti"])


def sent_assertions(http: responses.RequestsMock) -> list[str]:
    bodies = [parse_qs(str(c.request.body)) for c in http.calls if c.request.method == "POST"]
    return [body["client_assertion"][0] for body in bodies]


def local_credential(form: str) -> dict[str, Any]:
    credential = {"private_key": key_pem(pki().leaf_key)}
    if form == "thumbprint":
        return {**credential, "thumbprint": "AB" * 20}
    return {**credential, "public_certificate": cert_pem(pki().leaf_cert)}


@pytest.fixture
def token_endpoint(http: responses.RequestsMock) -> str:
    endpoint = add_discovery(http)
    http.post(endpoint, json={"access_token": "at", "expires_in": 3600, "token_type": "Bearer"})
    return endpoint


# ------------------------------------------------------------------ what is sent


@pytest.mark.parametrize("form", FORMS)
def test_two_token_requests_carry_different_jti(
    http: responses.RequestsMock, token_endpoint: str, form: str
) -> None:
    app = identitylib.ConfidentialClientApplication(
        CLIENT_ID, local_credential(form), authority=f"https://login.microsoftonline.com/{TENANT}"
    )
    assert "access_token" in app.acquire_token_for_client(["api://one/.default"])
    assert "access_token" in app.acquire_token_for_client(["api://two/.default"])
    app.remove_tokens_for_client()
    assert "access_token" in app.acquire_token_for_client(["api://one/.default"])
    assertions = sent_assertions(http)
    assert len(assertions) == 3
    assert len({jti_of(a) for a in assertions}) == 3


@pytest.mark.parametrize("form", FORMS)
def test_two_token_requests_carry_different_jti_async(
    http: responses.RequestsMock, token_endpoint: str, form: str
) -> None:
    require_module("httpx")
    from identitylib import aio

    async def main() -> None:
        async with aio.ConfidentialClientApplication(
            CLIENT_ID,
            local_credential(form),
            authority=f"https://login.microsoftonline.com/{TENANT}",
            http_client=requests.Session(),  # sent through responses, in a worker thread
        ) as app:
            assert "access_token" in await app.acquire_token_for_client(["api://one/.default"])
            await app.remove_tokens_for_client()
            assert "access_token" in await app.acquire_token_for_client(["api://one/.default"])

    asyncio.run(main())
    assertions = sent_assertions(http)
    assert len(assertions) == 2
    assert jti_of(assertions[0]) != jti_of(assertions[1])


def test_an_assertion_callable_is_asked_for_every_request(
    http: responses.RequestsMock, token_endpoint: str
) -> None:
    made: list[str] = []

    def sign() -> str:
        made.append(f"header.payload-{len(made)}.signature")
        return made[-1]

    app = identitylib.ConfidentialClientApplication(
        CLIENT_ID,
        {"client_assertion": sign},
        authority=f"https://login.microsoftonline.com/{TENANT}",
    )
    app.acquire_token_for_client(["api://one/.default"])
    app.acquire_token_for_client(["api://two/.default"])
    assert sent_assertions(http) == made
    assert len(made) == 2


# ----------------------------------------------- end to end, replays refused


@pytest.fixture
def strict_emulator(emulator: Emulator) -> Iterator[Emulator]:
    """The session emulator refusing a client assertion whose ``jti`` it has seen."""
    emulator.provider.options.reject_assertion_replay = True
    yield emulator
    emulator.provider.options.reject_assertion_replay = False


def demo_credential(emu: Emulator, form: str) -> dict[str, Any]:
    cert = emu.demo_certificate
    if form == "thumbprint":
        return {"private_key": cert["private_key"], "thumbprint": cert["thumbprint"]}
    return {"private_key": cert["private_key"], "public_certificate": cert["public_certificate"]}


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


@pytest.mark.parametrize("form", FORMS)
def test_a_provider_refusing_replays_accepts_every_request(
    strict_emulator: Emulator, form: str
) -> None:
    emu = strict_emulator
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, demo_credential(emu, form), authority=emu.authority()
    )
    first = app.acquire_token_for_client(SCOPES)
    assert first["token_source"] == "identity_provider", first
    app.remove_tokens_for_client()
    second = app.acquire_token_for_client(SCOPES)
    assert second["token_source"] == "identity_provider", second
    assert token_posts(emu) == 2


@pytest.mark.parametrize("form", FORMS)
def test_a_provider_refusing_replays_accepts_every_request_async(
    strict_emulator: Emulator, form: str
) -> None:
    require_module("httpx")
    from identitylib import aio

    emu = strict_emulator

    async def main() -> list[dict[str, Any]]:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, demo_credential(emu, form), authority=emu.authority()
        ) as app:
            first = await app.acquire_token_for_client(SCOPES)
            await app.remove_tokens_for_client()
            return [first, await app.acquire_token_for_client(SCOPES)]

    for result in asyncio.run(main()):
        assert result["token_source"] == "identity_provider", result
    assert token_posts(emu) == 2
