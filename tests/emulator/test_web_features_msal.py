"""The real msal package against what the emulator serves for web apps: incremental consent,
the demo API's claims challenge, and B2C user flows (over HTTPS, as msal requires)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from identitylib import parse_claims_challenge
from identitylib.emulator import (
    AUTH_CONTEXT,
    DEMO_API2_ID,
    DEMO_API2_URI,
    DEMO_API_URI,
    DEMO_B2C_SIGN_UP_SIGN_IN,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    forgot_password,
    sign_in,
)
from tests._servers import require_module

msal = require_module("msal")
pytestmark = [
    pytest.mark.msal,
    pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended"),
]

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
API_SCOPE = f"{DEMO_API_URI}/access_as_user"
API2_SCOPE = f"{DEMO_API2_URI}/read"
REDIRECT = "http://localhost:5000/getAToken"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(tls=True) as emulator:
        yield emulator


@pytest.fixture
def http(emu: Emulator) -> Iterator[requests.Session]:
    emu.faults.reset()
    emu.provider.revoke_consent()
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the emulator's CA
    session.verify = emu.ca_path
    yield session
    session.close()


def web_app(emu: Emulator, http: requests.Session, authority: str) -> Any:
    return msal.ConfidentialClientApplication(
        DEMO_WEB_ID,
        DEMO_WEB_SECRET,
        authority=authority,
        http_client=http,
        instance_discovery=False,
    )


def signed_in(emu: Emulator, app: Any, scopes: list[str], **flow_options: Any) -> dict[str, Any]:
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT, **flow_options)
    answer = sign_in(flow["auth_uri"], ALICE, ALICE_PASSWORD, verify=str(emu.ca_path))
    result: dict[str, Any] = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "access_token" in result, result
    return result


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_msal_incremental_consent(emu: Emulator, http: requests.Session) -> None:
    app = web_app(emu, http, emu.authority())
    signed_in(emu, app, [API_SCOPE])
    (account,) = app.get_accounts()
    refused = app.acquire_token_silent_with_error([API2_SCOPE], account)
    assert refused["error"] == "invalid_grant"
    assert refused["suberror"] == "consent_required"
    assert 65001 in refused["error_codes"]
    result = signed_in(emu, app, [API2_SCOPE])
    assert claims_of(result["access_token"])["aud"] == DEMO_API2_ID
    again = app.acquire_token_silent_with_error([API2_SCOPE], account, force_refresh=True)
    assert "access_token" in again, again


def test_msal_claims_challenge_from_the_demo_api(emu: Emulator, http: requests.Session) -> None:
    app = web_app(emu, http, emu.authority())
    token = signed_in(emu, app, [API_SCOPE])["access_token"]
    emu.faults.api_claims_challenge = True
    refused = http.get(emu.demo_api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert refused.status_code == 401
    claims = parse_claims_challenge(refused.headers["WWW-Authenticate"])
    (account,) = app.get_accounts()
    silent = app.acquire_token_silent_with_error([API_SCOPE], account, claims_challenge=claims)
    assert silent["error"] == "interaction_required"
    assert silent["claims"]
    result = signed_in(emu, app, [API_SCOPE], claims_challenge=silent["claims"])
    assert claims_of(result["access_token"])["acrs"] == [AUTH_CONTEXT]
    answer = http.get(
        emu.demo_api_url, headers={"Authorization": f"Bearer {result['access_token']}"}, timeout=10
    )
    assert answer.status_code == 200


def test_msal_b2c_user_flow(emu: Emulator, http: requests.Session) -> None:
    app = web_app(emu, http, emu.b2c_authority())
    result = signed_in(emu, app, [API_SCOPE])
    assert result["id_token_claims"]["tfp"] == DEMO_B2C_SIGN_UP_SIGN_IN
    (account,) = app.get_accounts()
    oid = result["id_token_claims"]["oid"]
    policy = DEMO_B2C_SIGN_UP_SIGN_IN.lower()
    assert account["home_account_id"] == f"{oid}-{policy}.{DEMO_TENANT_ID}"
    again = app.acquire_token_silent([API_SCOPE], account, force_refresh=True)
    assert again is not None
    assert claims_of(again["access_token"])["tfp"] == DEMO_B2C_SIGN_UP_SIGN_IN
    flow = app.initiate_auth_code_flow([API_SCOPE], redirect_uri=REDIRECT)
    forgot = forgot_password(flow["auth_uri"], verify=str(emu.ca_path))
    error = app.acquire_token_by_auth_code_flow(flow, forgot)
    assert error["error"] == "access_denied"
    assert error["error_description"].startswith("AADB2C90118")
