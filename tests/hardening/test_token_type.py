"""A token response of a type the request did not ask for is an error, never a token.

RFC 6749 §7.1: a client must not use a token whose type it does not understand. ``Bearer``
passes in any letter case, and so does the type a request asked for with its
``token_type`` field (``pop``, ``ssh-cert``); a missing ``token_type`` means Bearer.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, Optional

import pytest

import identitylib
from identitylib.emulator import (
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
)
from tests._servers import require_module

SCOPES = [f"{DEMO_API_URI}/.default"]
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
TOKEN_PATH = "/oauth2/v2.0/token"
JWK = '{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "k1"}'
POP = {"token_type": "pop", "req_cnf": JWK}
SSH = {"token_type": "ssh-cert", "req_cnf": JWK, "key_id": "k1"}


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The session's plain-http emulator, faults reset around each test."""
    return emulator


def answer_token(emu: Emulator, token_type: Optional[str]) -> None:
    """The next token request is answered 200 with an access token of ``token_type``."""
    body: dict[str, Any] = {"access_token": "at-of-some-type", "expires_in": 3600}
    if token_type is not None:
        body["token_type"] = token_type
    emu.faults.inject(200, body=body, path_contains=TOKEN_PATH)


def daemon(emu: Emulator) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority()
    )


def cached_access_tokens(app: Any, key_id: Optional[str] = None) -> list[Any]:
    """The app's cached access tokens (those bound to ``key_id``, when given)."""
    query = {"key_id": key_id} if key_id else None
    return list(app.token_cache.search("AccessToken", query=query))


def assert_refused(result: dict[str, Any], token_type: str) -> None:
    assert result["error"] == "invalid_response", result
    assert "token_type" in result["error_description"]
    assert repr(token_type) in result["error_description"]
    assert "access_token" not in result


@pytest.mark.parametrize("token_type", ["mac", "N_A", "DPoP", "pop", "ssh-cert"])
def test_unrequested_token_type_is_an_error_and_not_cached(emu: Emulator, token_type: str) -> None:
    app = daemon(emu)
    answer_token(emu, token_type)
    assert_refused(app.acquire_token_for_client(SCOPES), token_type)
    assert cached_access_tokens(app) == []


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER", None])
def test_bearer_in_any_case_or_missing_is_a_token(emu: Emulator, token_type: Optional[str]) -> None:
    app = daemon(emu)
    answer_token(emu, token_type)
    result = app.acquire_token_for_client(SCOPES)
    assert result["access_token"] == "at-of-some-type", result
    assert result["token_type"] == (token_type or "Bearer")
    assert len(cached_access_tokens(app)) == 1


@pytest.mark.parametrize(
    ("data", "answered", "accepted"),
    [
        (POP, "pop", True),
        (POP, "PoP", True),
        (POP, "Bearer", True),
        (POP, "ssh-cert", False),
        (SSH, "ssh-cert", True),
        (SSH, "pop", False),
        (SSH, "mac", False),
    ],
)
def test_the_requested_token_type_passes(
    emu: Emulator, data: dict[str, str], answered: str, accepted: bool
) -> None:
    app = daemon(emu)
    answer_token(emu, answered)
    result = app.acquire_token_for_client(SCOPES, data=data)
    key_id = data.get("key_id")
    if accepted:
        assert result["access_token"] == "at-of-some-type", result
        assert len(cached_access_tokens(app, key_id)) == 1
    else:
        assert_refused(result, answered)
        assert data["token_type"] in result["error_description"]
        assert cached_access_tokens(app, key_id) == []


def test_user_flows_refuse_an_unknown_token_type(emu: Emulator) -> None:
    app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emu.authority())
    answer_token(emu, "N_A")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(
            "alice@contoso.onmicrosoft.com", "alice-password", USER_SCOPES
        )
    assert_refused(result, "N_A")
    assert cached_access_tokens(app) == []
    assert list(app.token_cache.search("RefreshToken")) == []
    assert app.get_accounts() == []


@pytest.mark.parametrize(("token_type", "accepted"), [("mac", False), ("BEARER", True)])
def test_async_api_refuses_an_unknown_token_type(
    emu: Emulator, token_type: str, accepted: bool
) -> None:
    require_module("httpx")
    from identitylib import aio

    answer_token(emu, token_type)

    async def main() -> tuple[dict[str, Any], list[Any]]:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority()
        ) as app:
            result = await app.acquire_token_for_client(SCOPES)
            return result, cached_access_tokens(app)

    result, cached = asyncio.run(main())
    if accepted:
        assert result["access_token"] == "at-of-some-type", result
        assert len(cached) == 1
    else:
        assert_refused(result, token_type)
        assert cached == []
