"""A local resource server demanding bearer tokens, and apps getting them from the emulator."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import identitylib
from identitylib.emulator import (
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
    approve_device_code,
)

CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
SCOPES = [f"{DEMO_API_URI}/.default"]


@dataclass
class ResourceServer:
    """Answers 200 to a bearer token; the first token seen may be refused with a challenge.

    Kept beside the emulator: it is the protected resource, not the identity provider (the
    apps get their tokens from the emulator), and the tests need what the emulator's demo
    API does not do: challenge the first token whatever its claims, or every token, answer
    POSTs, and record every token and body it received.
    """

    url: str = ""
    challenge_first: bool = False
    challenge_always: bool = False
    seen: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)


class _Handler(BaseHTTPRequestHandler):
    state: ResourceServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        state = self.state
        length = int(self.headers.get("Content-Length") or 0)
        state.bodies.append(self.rfile.read(length) if length else b"")
        header = self.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        state.seen.append(token)
        if not token:
            self._reply(401, {"error": "no token"}, 'Bearer realm=""')
        elif state.challenge_always or (
            state.challenge_first and (not state.refused or token in state.refused)
        ):
            state.refused.add(token)
            self._reply(401, {"error": "claims"}, identitylib.claims_challenge_header(CLAIMS))
        else:
            self._reply(200, {"ok": True, "calls": len(state.seen)})

    do_GET = do_POST = _answer

    def _reply(self, status: int, body: dict[str, object], challenge: str = "") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if challenge:
            self.send_header("WWW-Authenticate", challenge)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def resource_server() -> Iterator[ResourceServer]:
    state = ResourceServer()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/items"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def daemon_app(emulator: Emulator) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, client_credential=DEMO_DAEMON_SECRET, authority=emulator.authority()
    )


USER, PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]


@pytest.fixture
def signed_in_app(emulator: Emulator) -> identitylib.PublicClientApplication:
    """A public client whose cache holds alice's tokens (device code, scripted user)."""
    app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emulator.authority())
    flow = app.initiate_device_flow(USER_SCOPES)
    flow["expires_at"] = time.time() + 60  # bounded: polling stops then
    approver = threading.Thread(
        target=approve_device_code,
        args=(flow["verification_uri"], flow["user_code"], USER, PASSWORD),
        daemon=True,
    )
    approver.start()
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: False)
    approver.join(10)
    assert "access_token" in result, result
    emulator.reset_requests()
    return app


def token_requests(emulator: Emulator) -> int:
    return sum(1 for _method, path in emulator.requests if path.endswith("/token"))
