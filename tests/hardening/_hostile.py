"""A scriptable hostile OpenID provider on 127.0.0.1 for the hardening tests.

Every request is recorded (method, path, form body, headers). A route answers with a
:class:`Reply`: status, headers and body, optionally after a stall, or dripped slowly.
Unscripted paths get a well-behaved discovery document and token response.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union
from urllib.parse import parse_qs, urlsplit

TENANT = "hostile-tenant"


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Union[bytes, str, dict[str, Any], list[Any]] = b""
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  #: seconds to wait before answering
    drip: float = 0.0  #: seconds between single bytes of the body
    drop: bool = False  #: read the whole request, then close the connection without a word
    partial: int = 0  #: with ``stall``: send headers and this many body bytes first

    def payload(self) -> bytes:
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode()
        if isinstance(self.body, str):
            return self.body.encode()
        return self.body


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes


Route = Callable[["HostileServer", Recorded], Reply]


class HostileServer:
    """A threaded HTTP server whose answers tests script per path."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.routes: dict[str, Union[Reply, Route, list[Reply]]] = {}
        #: Answer of every discovery request (any path ending in openid-configuration).
        self.discovery_reply: Optional[Union[Reply, list[Reply]]] = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                path = urlsplit(self.path).path
                record = Recorded(
                    self.command, path, form, {k.lower(): v for k, v in self.headers.items()}, raw
                )
                with server._lock:
                    server.requests.append(record)
                reply = server.reply_for(record)
                if reply.drop:
                    self.close_connection = True
                    return
                try:
                    if reply.stall and not reply.partial:
                        time.sleep(reply.stall)
                    payload = reply.payload()
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if reply.partial:
                        self.wfile.write(payload[: reply.partial])
                        self.wfile.flush()
                        time.sleep(reply.stall)
                        self.close_connection = True
                        return
                    if reply.drip:
                        for i in range(len(payload)):
                            self.wfile.write(payload[i : i + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _handle
            do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return f"{self.base}/{TENANT}"

    @property
    def token_path(self) -> str:
        return f"/{TENANT}/token"

    @property
    def device_path(self) -> str:
        return f"/{TENANT}/devicecode"

    def discovery(self, **overrides: Any) -> dict[str, Any]:
        doc = {
            "issuer": self.issuer,
            "token_endpoint": self.base + self.token_path,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "device_authorization_endpoint": self.base + self.device_path,
            "jwks_uri": f"{self.issuer}/keys",
        }
        doc.update(overrides)
        return doc

    def reply_for(self, record: Recorded) -> Reply:
        with self._lock:
            route = self.routes.get(record.path)
            if isinstance(route, list):
                route = route.pop(0) if len(route) > 1 else route[0]
        if isinstance(route, Reply):
            return route
        if route is not None:
            return route(self, record)
        if record.path.endswith("/.well-known/openid-configuration"):
            with self._lock:
                found = self.discovery_reply
                if isinstance(found, list):
                    found = found.pop(0) if len(found) > 1 else found[0]
            return found or Reply(body=self.discovery())
        if record.path == self.token_path:
            return Reply(
                body={"access_token": "good-at", "token_type": "Bearer", "expires_in": 3600}
            )
        return Reply(404, {"error": "not_found"})

    def discovery_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("openid-configuration")]

    def count(self, path: Optional[str] = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def token_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == self.token_path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.routes.clear()

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def running() -> Iterator[HostileServer]:
    server = HostileServer().start()
    try:
        yield server
    finally:
        server.stop()
