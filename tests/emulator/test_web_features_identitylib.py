"""What web apps need from the emulator, end to end with identitylib (blocking and asyncio):
incremental consent, the demo API's claims challenge, sign-out at the provider, and B2C
user flows (sign-up/sign-in, forgot password, password reset)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any, Union

import jwt
import pytest
import requests

import identitylib
from identitylib import aio, parse_claims_challenge
from identitylib.emulator import (
    AUTH_CONTEXT,
    DEMO_API2_ID,
    DEMO_API2_URI,
    DEMO_API_URI,
    DEMO_B2C_RESET_PASSWORD,
    DEMO_B2C_SIGN_UP_SIGN_IN,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    forgot_password,
    sign_in,
)
from identitylib.web import AsyncWebAppAuth, SignInFailed, SignInRequired, WebAppAuth

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
API_SCOPE = f"{DEMO_API_URI}/access_as_user"
API2_SCOPE = f"{DEMO_API2_URI}/read"
REDIRECT = "http://localhost:5000/getAToken"
HOME = "http://localhost:5000/"

Auth = Union[WebAppAuth, AsyncWebAppAuth]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.faults.reset()
    emu.reset_logouts()
    emu.provider.revoke_consent()


async def _call(target: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """``target.method(...)``, awaited when it is a coroutine (the asyncio API)."""
    value = getattr(target, method)(*args, **kwargs)
    return await value if inspect.isawaitable(value) else value


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def _sign_in(auth: Auth, session: dict[str, Any], **options: Any) -> Any:
    url = await _call(auth, "sign_in_url", session, redirect_uri=REDIRECT, **options)
    answer = sign_in(url, ALICE, ALICE_PASSWORD)
    assert "code" in answer, answer
    return await _call(auth, "complete_sign_in", session, state=answer["state"], response=answer)


def _demo_api(emu: Emulator, token: str) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False
        return http.get(emu.demo_api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _web_app(emu: Emulator, kind: type[Auth], **options: Any) -> Auth:
    options.setdefault("authority", emu.authority())
    return kind(DEMO_WEB_ID, DEMO_WEB_SECRET, response_mode="query", **options)


async def _close(auth: Auth) -> None:
    if isinstance(auth, AsyncWebAppAuth):
        await auth.aclose()


async def incremental_consent(emu: Emulator, kind: type[Auth]) -> None:
    auth = _web_app(emu, kind, scopes=[API_SCOPE])
    session: dict[str, Any] = {}
    try:
        await _sign_in(auth, session)
        assert "access_token" in await _call(auth, "token_for_user", session, [API_SCOPE])
        with pytest.raises(SignInRequired) as needed:
            await _call(auth, "token_for_user", session, [API2_SCOPE])
        assert needed.value.scopes == [API2_SCOPE]
        assert "invalid_grant" in needed.value.reason
        url = await _call(
            auth, "sign_in_url", session, redirect_uri=REDIRECT, scopes=needed.value.scopes
        )
        declined = sign_in(url, ALICE, ALICE_PASSWORD, consent=False)
        assert declined["error"] == "access_denied", "the consent step was shown and cancelled"
        await _sign_in(auth, session, scopes=needed.value.scopes)
        result = await _call(auth, "token_for_user", session, [API2_SCOPE])
        assert claims_of(result["access_token"])["aud"] == DEMO_API2_ID
    finally:
        await _close(auth)


@pytest.mark.parametrize("kind", [WebAppAuth, AsyncWebAppAuth])
def test_incremental_consent_for_a_second_api(emu: Emulator, kind: type[Auth]) -> None:
    asyncio.run(incremental_consent(emu, kind))


async def claims_challenge(emu: Emulator, kind: type[Auth]) -> None:
    auth = _web_app(emu, kind, scopes=[API_SCOPE])
    session: dict[str, Any] = {}
    try:
        await _sign_in(auth, session)
        emu.faults.api_claims_challenge = True
        token = (await _call(auth, "token_for_user", session, [API_SCOPE]))["access_token"]
        refused = _demo_api(emu, token)
        assert refused.status_code == 401
        claims = parse_claims_challenge(refused.headers["WWW-Authenticate"])
        assert claims is not None
        with pytest.raises(SignInRequired) as needed:
            await _call(auth, "token_for_user", session, [API_SCOPE], claims_challenge=claims)
        assert needed.value.claims_challenge
        await _sign_in(
            auth, session, scopes=[API_SCOPE], claims_challenge=needed.value.claims_challenge
        )
        stepped_up = await _call(auth, "token_for_user", session, [API_SCOPE])
        assert claims_of(stepped_up["access_token"])["acrs"] == [AUTH_CONTEXT]
        answer = _demo_api(emu, stepped_up["access_token"])
        assert answer.status_code == 200
        assert answer.json()["acrs"] == [AUTH_CONTEXT]
    finally:
        await _close(auth)


@pytest.mark.parametrize("kind", [WebAppAuth, AsyncWebAppAuth])
def test_claims_challenge_from_the_demo_api(emu: Emulator, kind: type[Auth]) -> None:
    asyncio.run(claims_challenge(emu, kind))


async def sign_out(emu: Emulator, kind: type[Auth]) -> None:
    auth = _web_app(emu, kind)
    session: dict[str, Any] = {}
    try:
        await _sign_in(auth, session)
        url = await _call(auth, "sign_out_url", session, post_logout_redirect_uri=HOME)
        assert url.startswith(f"{emu.authority()}/oauth2/v2.0/logout?")
        with requests.Session() as browser:
            browser.trust_env = False
            answer = browser.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302
        assert answer.headers["Location"] == HOME
        (logout,) = emu.logouts
        assert logout.client_id == DEMO_WEB_ID
        assert logout.redirected_to == HOME
        assert logout.logout_hint, "the ID token's login_hint came back as logout_hint"
    finally:
        await _close(auth)


@pytest.mark.parametrize("kind", [WebAppAuth, AsyncWebAppAuth])
def test_sign_out_reaches_the_providers_logout(emu: Emulator, kind: type[Auth]) -> None:
    asyncio.run(sign_out(emu, kind))


async def b2c_user_flows(emu: Emulator, kind: type[Auth]) -> None:
    auth = _web_app(
        emu,
        kind,
        authority=emu.b2c_authority(),
        user_flows={"reset": emu.b2c_authority(DEMO_B2C_RESET_PASSWORD)},
    )
    session: dict[str, Any] = {}
    try:
        url = await _call(auth, "sign_in_url", session, redirect_uri=REDIRECT)
        forgot = forgot_password(url)
        with pytest.raises(SignInFailed) as failed:
            await _call(auth, "complete_sign_in", session, state=forgot["state"], response=forgot)
        assert failed.value.error == "access_denied"
        assert failed.value.description.startswith("AADB2C90118")
        reset = await _sign_in(auth, session, user_flow="reset")
        assert reset.user_flow == "reset"
        assert reset.user.claims["tfp"] == DEMO_B2C_RESET_PASSWORD
        signed_in = await _sign_in(auth, session)
        assert signed_in.user.claims["tfp"] == DEMO_B2C_SIGN_UP_SIGN_IN
        url = await _call(auth, "sign_out_url", session, post_logout_redirect_uri=HOME)
        assert url.startswith(f"{emu.b2c_authority().lower()}/oauth2/v2.0/logout?".lower())
    finally:
        await _close(auth)


@pytest.mark.parametrize("kind", [WebAppAuth, AsyncWebAppAuth])
def test_b2c_user_flows_in_a_web_app(emu: Emulator, kind: type[Auth]) -> None:
    asyncio.run(b2c_user_flows(emu, kind))


def test_b2c_code_flow_with_the_application_api(emu: Emulator) -> None:
    app = identitylib.ConfidentialClientApplication(
        DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.b2c_authority()
    )
    flow = app.initiate_auth_code_flow([API_SCOPE], redirect_uri=REDIRECT)
    result = app.acquire_token_by_auth_code_flow(
        flow, sign_in(flow["auth_uri"], ALICE, ALICE_PASSWORD)
    )
    assert result["id_token_claims"]["tfp"] == DEMO_B2C_SIGN_UP_SIGN_IN
    assert claims_of(result["access_token"])["tfp"] == DEMO_B2C_SIGN_UP_SIGN_IN
    (account,) = app.get_accounts()
    policy = DEMO_B2C_SIGN_UP_SIGN_IN.lower()
    assert (
        account["home_account_id"]
        == f"{claims_of(result['access_token'])['oid']}-{policy}.{DEMO_TENANT_ID}"
    )
    again = app.acquire_token_silent([API_SCOPE], account, force_refresh=True)
    assert again is not None
    assert again["id_token_claims"]["tfp"] == DEMO_B2C_SIGN_UP_SIGN_IN


def test_b2c_code_flow_with_the_asyncio_api(emu: Emulator) -> None:
    async def scenario() -> None:
        app = aio.ConfidentialClientApplication(
            DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.b2c_authority(DEMO_B2C_RESET_PASSWORD)
        )
        try:
            flow = await app.initiate_auth_code_flow([API_SCOPE], redirect_uri=REDIRECT)
            response = sign_in(flow["auth_uri"], ALICE, ALICE_PASSWORD)
            result = await app.acquire_token_by_auth_code_flow(flow, response)
            assert result["id_token_claims"]["tfp"] == DEMO_B2C_RESET_PASSWORD
            flow = await app.initiate_auth_code_flow([API_SCOPE], redirect_uri=REDIRECT)
            assert forgot_password(flow["auth_uri"])["error"] == "sign_in_failed"
        finally:
            await app.aclose()

    asyncio.run(scenario())
