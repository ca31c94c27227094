"""The scripted user signs in and approves device codes on the emulator's pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl, urlencode

import pytest
import requests

from identitylib.emulator import (
    DEMO_CLI_ID,
    DEMO_WEB_ID,
    Emulator,
    approve_device_code,
    sign_in,
)

ALICE, PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"


@pytest.fixture(scope="module", params=[False, True], ids=["http", "https"])
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(tls=request.param) as emulator:
        yield emulator


def auth_uri(emu: Emulator, redirect_uri: str, mode: str) -> str:
    params = {
        "client_id": DEMO_WEB_ID,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": "openid User.Read",
        "state": "s-1",
        "response_mode": mode,
    }
    return f"{emu.authority()}/oauth2/v2.0/authorize?{urlencode(params)}"


@pytest.mark.parametrize("mode", ["query", "form_post", "fragment"])
def test_sign_in_returns_the_authorization_response(emu: Emulator, mode: str) -> None:
    fields = sign_in(
        auth_uri(emu, "http://localhost:5000/getAToken", mode),
        ALICE,
        PASSWORD,
        verify=emu.ca_path or True,
    )
    assert fields["state"] == "s-1"
    assert fields["code"]


def test_wrong_password_is_reported(emu: Emulator) -> None:
    fields = sign_in(
        auth_uri(emu, "http://localhost:5000/getAToken", "query"),
        ALICE,
        "nope",
        verify=emu.ca_path or True,
    )
    assert fields["error"] == "sign_in_failed"


def test_sign_in_delivers_to_a_loopback_listener(emu: Emulator) -> None:
    received: list[dict[str, str]] = []

    # The app's redirect URI (the client side of form_post), not an identity provider.
    class Listener(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            received.append(dict(parse_qsl(self.rfile.read(length).decode())))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Listener)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        redirect = f"http://localhost:{server.server_address[1]}"
        sign_in(
            auth_uri(emu, redirect, "form_post"),
            ALICE,
            PASSWORD,
            verify=emu.ca_path or True,
            deliver=True,
        )
        thread.join(timeout=10)
    finally:
        server.server_close()
    assert received
    assert received[0]["state"] == "s-1"


def test_approve_device_code(emu: Emulator) -> None:
    verify = emu.ca_path or True
    session = requests.Session()
    session.trust_env = False
    flow = session.post(
        f"{emu.authority()}/oauth2/v2.0/devicecode",
        data={"client_id": DEMO_CLI_ID, "scope": "openid User.Read"},
        verify=verify,
        timeout=10,
    ).json()
    assert approve_device_code(
        flow["verification_uri"], flow["user_code"], ALICE, PASSWORD, verify=verify
    )
    token = session.post(
        f"{emu.authority()}/oauth2/v2.0/token",
        verify=verify,
        timeout=10,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "client_id": DEMO_CLI_ID,
            "device_code": flow["device_code"],
        },
    ).json()
    assert "access_token" in token
