"""Real MSAL Python against the model, through an in-process HTTP client (no sockets).

Proves that what the model answers is what MSAL expects: discovery (including instance
discovery of a non-Microsoft host), every grant MSAL drives, caching and refresh.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import pytest

from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
)
from identitylib.emulator._reply import Reply
from tests._servers import require_module

from .provider_support import (
    ALICE,
    ALICE_OID,
    ALICE_PASSWORD,
    BASE,
    CERT_APP_ID,
    TENANT,
    WEB_REDIRECT,
    World,
    app_certificate,
    form_fields,
    make_world,
)

msal = require_module("msal")
pytestmark = pytest.mark.msal

AUTHORITY = f"{BASE}/{TENANT}"


class Response:
    def __init__(self, reply: Reply) -> None:
        self.status_code = reply.status
        self.text = json.dumps(reply.json) if reply.json is not None else (reply.html or "")
        self.headers = {"Content-Type": "application/json", **reply.headers}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class InProcessClient:
    """Routes MSAL's GETs and POSTs to the model, as the server would."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[str] = []

    def get(self, url: str, params: Optional[dict[str, str]] = None, **_: Any) -> Response:
        parts = urlsplit(url)
        self.calls.append(f"GET {parts.path}")
        segments = [s for s in parts.path.split("/") if s]
        p = self.world.provider
        if segments[1:] == ["discovery", "instance"]:
            return Response(p.instance_discovery(BASE, dict(params or {})))
        if segments[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return Response(p.openid_configuration(BASE, segments[0]))
        if segments[1:2] == ["userrealm"]:
            return Response(p.user_realm(segments[2], base_url=BASE))
        raise AssertionError(f"unexpected GET {url}")

    def post(
        self,
        url: str,
        params: Optional[dict[str, str]] = None,
        data: Any = None,
        headers: Optional[dict[str, str]] = None,
        **_: Any,
    ) -> Response:
        parts = urlsplit(url)
        self.calls.append(f"POST {parts.path}")
        assert parts.netloc == urlsplit(BASE).netloc, url
        segments = [s for s in parts.path.split("/") if s]
        # requests drops None values when it form-encodes a dict; so do we
        form = {
            k: v.decode() if isinstance(v, bytes) else str(v)
            for k, v in (data or {}).items()
            if v is not None
        }
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        call = (
            self.world.provider.token if segments[-1] == "token" else self.world.provider.devicecode
        )
        return Response(call(BASE, segments[0], form, lowered))

    def close(self) -> None:
        pass


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def client(world: World) -> InProcessClient:
    return InProcessClient(world)


def test_client_credentials_with_secret_and_cache(client: InProcessClient) -> None:
    app = msal.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=AUTHORITY, http_client=client
    )
    result = app.acquire_token_for_client(["api://demo-api/.default"])
    assert result["token_type"] == "Bearer", result
    again = app.acquire_token_for_client(["api://demo-api/.default"])
    assert again["token_source"] == "cache"
    assert client.calls.count(f"POST /{TENANT}/oauth2/v2.0/token") == 1
    assert "GET /common/discovery/instance" in client.calls


def test_client_credentials_with_certificate(client: InProcessClient) -> None:
    cert = app_certificate()
    credential = {"private_key": cert.private_key_pem, "thumbprint": cert.sha1_hex}
    app = msal.ConfidentialClientApplication(
        CERT_APP_ID, credential, authority=AUTHORITY, http_client=client
    )
    first = app.acquire_token_for_client(["api://demo-api/.default"])
    second = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" in first, first
    assert "access_token" in second, second  # MSAL reuses its signed assertion


@pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")
def test_ropc_then_silent_refresh(client: InProcessClient) -> None:
    app = msal.PublicClientApplication(DEMO_CLI_ID, authority=AUTHORITY, http_client=client)
    result = app.acquire_token_by_username_password(
        ALICE, ALICE_PASSWORD, scopes=["api://demo-api/access_as_user"]
    )
    assert "access_token" in result, result
    (account,) = app.get_accounts()
    assert account["home_account_id"] == f"{ALICE_OID}.{TENANT}"
    assert account["username"] == ALICE
    cached = app.acquire_token_silent(["api://demo-api/access_as_user"], account)
    assert cached["token_source"] == "cache"
    refreshed = app.acquire_token_silent(
        ["api://demo-api/access_as_user"], account, force_refresh=True
    )
    assert refreshed["token_source"] == "identity_provider", refreshed
    graph = app.acquire_token_silent(["User.Read"], account)
    assert graph is not None
    assert "access_token" in graph, graph


def test_device_flow(world: World, client: InProcessClient) -> None:
    app = msal.PublicClientApplication(DEMO_CLI_ID, authority=AUTHORITY, http_client=client)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert flow["verification_uri"] == f"{BASE}/devicelogin", flow
    world.provider.device_login(
        BASE, {"user_code": flow["user_code"], "username": ALICE, "password": ALICE_PASSWORD}
    )
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE


def test_auth_code_flow_and_obo(world: World, client: InProcessClient) -> None:
    web = msal.ConfidentialClientApplication(
        DEMO_WEB_ID, DEMO_WEB_SECRET, authority=AUTHORITY, http_client=client
    )
    flow = web.initiate_auth_code_flow(
        ["api://demo-api/access_as_user"], WEB_REDIRECT, response_mode="form_post"
    )
    params = {k: v[0] for k, v in parse_qs(urlsplit(flow["auth_uri"]).query).items()}
    page = world.provider.authorize(BASE, TENANT, params)
    assert page.html is not None
    txn = form_fields(page.html)["txn"]
    reply = world.provider.sign_in(
        BASE, TENANT, {"txn": txn, "username": ALICE, "password": ALICE_PASSWORD}
    )
    assert reply.html is not None
    result = web.acquire_token_by_auth_code_flow(flow, form_fields(reply.html))
    assert "access_token" in result, result
    assert result["id_token_claims"]["oid"] == ALICE_OID
    api = msal.ConfidentialClientApplication(
        DEMO_API_ID, DEMO_API_SECRET, authority=AUTHORITY, http_client=client
    )
    downstream = api.acquire_token_on_behalf_of(result["access_token"], ["User.Read"])
    assert "access_token" in downstream, downstream


def test_error_dicts(client: InProcessClient) -> None:
    app = msal.ConfidentialClientApplication(
        DEMO_DAEMON_ID, "wrong", authority=AUTHORITY, http_client=client
    )
    result = app.acquire_token_for_client(["api://demo-api/.default"])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
