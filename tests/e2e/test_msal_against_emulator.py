"""The real msal package, unchanged, against the emulator over real HTTPS."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from identitylib.emulator import Emulator, EmulatorConfig
from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
)
from tests._servers import require_module

from ._browser import approve_device_code, form_post_fields, sign_in

msal = require_module("msal")
pytestmark = pytest.mark.msal

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
API_USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
GRAPH_SCOPES = ["https://graph.microsoft.com/User.Read"]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig.default()
    config.device_code_interval = 1
    with Emulator(config, tls=True) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _msal_user_realm_without_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """msal builds the user-realm URL from the host name alone, dropping the port, so on
    an emulator it would call localhost:443. Tell msal localhost has no user realm endpoint
    (what it would learn itself from a 404 there) so ROPC goes straight to the token endpoint."""
    known = set(msal.authority.Authority._domains_without_user_realm_discovery) | {"localhost"}
    monkeypatch.setattr(msal.authority.Authority, "_domains_without_user_realm_discovery", known)


def browser_session(emu: Emulator) -> requests.Session:
    """A session trusting the emulator's CA (trust_env off: REQUESTS_CA_BUNDLE must not win)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_path
    return session


@pytest.fixture
def http(emu: Emulator) -> Iterator[requests.Session]:
    session = browser_session(emu)
    yield session
    session.close()


def msal_kwargs(emu: Emulator, http: requests.Session) -> dict[str, Any]:
    return {"authority": emu.authority(), "http_client": http, "instance_discovery": False}


def verify_jwt(emu: Emulator, http: requests.Session, token: str, audience: str) -> dict[str, Any]:
    keys = http.get(f"{emu.authority()}/discovery/v2.0/keys", timeout=10).json()
    client = jwt.PyJWKSet.from_dict(keys)
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in client.keys if k.key_id == kid)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience)


def test_client_credentials_with_secret(emu: Emulator, http: requests.Session) -> None:
    app = msal.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, **msal_kwargs(emu, http)
    )
    result = app.acquire_token_for_client([f"{DEMO_API_URI}/.default"])
    assert "access_token" in result, result
    claims = verify_jwt(emu, http, result["access_token"], DEMO_API_ID)
    assert claims["azp"] == DEMO_DAEMON_ID
    assert "Data.Read.All" in claims["roles"]
    assert app.acquire_token_for_client([f"{DEMO_API_URI}/.default"])["token_source"] == "cache"


@pytest.mark.parametrize("form", ["thumbprint", "sha256"])
def test_client_credentials_with_certificate(
    emu: Emulator, http: requests.Session, form: str
) -> None:
    cert = emu.demo_certificate
    credential: dict[str, Any] = {"private_key": cert["private_key"]}
    if form == "thumbprint":
        credential["thumbprint"] = cert["thumbprint"]
    else:
        credential["public_certificate"] = cert["public_certificate"]
    app = msal.ConfidentialClientApplication(DEMO_DAEMON_ID, credential, **msal_kwargs(emu, http))
    result = app.acquire_token_for_client([f"{DEMO_API_URI}/.default"])
    assert "access_token" in result, result


def test_authorization_code_flow(emu: Emulator, http: requests.Session) -> None:
    app = msal.ConfidentialClientApplication(DEMO_WEB_ID, DEMO_WEB_SECRET, **msal_kwargs(emu, http))
    flow = app.initiate_auth_code_flow(
        API_USER_SCOPES, redirect_uri="http://localhost:5000/getAToken", response_mode="form_post"
    )
    browser = browser_session(emu)
    answer = sign_in(browser, flow["auth_uri"], ALICE, ALICE_PASSWORD)
    auth_response = form_post_fields(answer)
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE
    assert result["id_token_claims"]["aud"] == DEMO_WEB_ID
    assert "refresh_token" in result
    accounts = app.get_accounts(username=ALICE)
    assert accounts
    assert accounts[0]["username"] == ALICE


def test_device_code_flow(emu: Emulator, http: requests.Session) -> None:
    app = msal.PublicClientApplication(DEMO_CLI_ID, **msal_kwargs(emu, http))
    flow = app.initiate_device_flow(scopes=API_USER_SCOPES)
    assert "user_code" in flow, flow
    browser = browser_session(emu)
    approver = threading.Timer(
        0.5,
        approve_device_code,
        (browser, flow["verification_uri"], flow["user_code"], ALICE, ALICE_PASSWORD),
    )
    approver.start()
    try:
        flow["expires_at"] = min(flow["expires_at"], time.time() + 30)  # bound the wait
        result = app.acquire_token_by_device_flow(flow)
    finally:
        approver.cancel()
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE


def _ropc(emu: Emulator, http: requests.Session, scopes: list[str]) -> tuple[Any, dict[str, Any]]:
    app = msal.PublicClientApplication(DEMO_CLI_ID, **msal_kwargs(emu, http))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(ALICE, ALICE_PASSWORD, scopes)
    return app, result


def test_username_password(emu: Emulator, http: requests.Session) -> None:
    _, result = _ropc(emu, http, API_USER_SCOPES)
    assert "access_token" in result, result
    claims = verify_jwt(emu, http, result["access_token"], DEMO_API_ID)
    assert claims["scp"] == "access_as_user"


def test_wrong_password_is_an_error(emu: Emulator, http: requests.Session) -> None:
    app = msal.PublicClientApplication(DEMO_CLI_ID, **msal_kwargs(emu, http))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(ALICE, "wrong", API_USER_SCOPES)
    assert result["error"] == "invalid_grant"
    assert 50126 in result["error_codes"]


def test_silent_refresh(emu: Emulator, http: requests.Session) -> None:
    app, first = _ropc(emu, http, API_USER_SCOPES)
    assert "refresh_token" in first
    account = app.get_accounts(username=ALICE)[0]
    cached = app.acquire_token_silent(API_USER_SCOPES, account)
    assert cached["token_source"] == "cache"
    refreshed = app.acquire_token_silent(API_USER_SCOPES, account, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != first["access_token"]
    other = app.acquire_token_silent(GRAPH_SCOPES, account)  # another resource through the RT
    assert other
    assert "access_token" in other


def test_on_behalf_of(emu: Emulator, http: requests.Session) -> None:
    _, user = _ropc(emu, http, API_USER_SCOPES)
    api = msal.ConfidentialClientApplication(DEMO_API_ID, DEMO_API_SECRET, **msal_kwargs(emu, http))
    result = api.acquire_token_on_behalf_of(user["access_token"], GRAPH_SCOPES)
    assert "access_token" in result, result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["azp"] == DEMO_API_ID
    assert (
        claims["oid"]
        == jwt.decode(user["access_token"], options={"verify_signature": False})["oid"]
    )


def test_on_behalf_of_refuses_a_token_for_another_app(
    emu: Emulator, http: requests.Session
) -> None:
    _, user = _ropc(emu, http, GRAPH_SCOPES)  # audience: Graph, not the middle tier
    api = msal.ConfidentialClientApplication(DEMO_API_ID, DEMO_API_SECRET, **msal_kwargs(emu, http))
    result = api.acquire_token_on_behalf_of(user["access_token"], GRAPH_SCOPES)
    assert result["error"] == "invalid_grant"
