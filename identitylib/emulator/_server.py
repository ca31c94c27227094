"""The emulator's HTTP(S) server: parse, apply faults, route, write the reply.

A ``ThreadingHTTPServer`` (one daemon thread per connection, HTTP/1.1 keep-alive). TLS is
negotiated in the connection's own thread, so a slow or failing handshake never stalls
the accept loop. Nothing is written to stderr: request lines go to the
``identitylib.emulator`` logger at DEBUG, without query strings or bodies (they carry
codes and secrets), and a failure inside the model becomes a 500 ``server_error`` JSON
answer, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from identitylib._log import get_logger
from identitylib.emulator._faults import Faults
from identitylib.emulator._reply import Reply
from identitylib.emulator._routes import ProviderLike, Request, dispatch, fault_reply

logger = get_logger("identitylib.emulator")

#: Largest request body accepted; larger ones get 413.
MAX_BODY = 1024 * 1024
_MAX_DISCARD = 16 * MAX_BODY
_FORM = "application/x-www-form-urlencoded"
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_QUERY_IN_TEXT = re.compile(r"\?[^\s'\"]*")


@dataclass
class ServerContext:
    """What every request handler needs from the emulator that owns the server."""

    provider: ProviderLike
    faults: Faults
    identity_header: str
    record: Callable[[str, str], None]
    stopping: threading.Event
    scheme: str = "http"
    fallback_host: str = "127.0.0.1"


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, value)
    return values


def _lower_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers with lower-cased names (the first value of a repeated name wins)."""
    lowered: dict[str, str] = {}
    for name, value in pairs:
        lowered.setdefault(name.lower(), value)
    return lowered


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # answer even malformed request lines with headers
    server_version = "identitylib-emulator"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this many seconds

    # --- entry points ---------------------------------------------------------------
    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    # --- logging: never to stderr, never a query string -------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator: %s", _QUERY_IN_TEXT.sub("?...", format % args))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path if hasattr(self, "path") else "-"
        logger.debug("emulator: %s %s -> %s", getattr(self, "command", "-"), path, code)

    def send_error(self, code: int, message: Optional[str] = None, explain: Any = None) -> None:
        """Protocol-level errors (bad request line, unsupported method) as JSON."""
        self.close_connection = True
        error = "invalid_request" if code < 500 else "server_error"
        body = {"error": error, "error_description": message or self.responses.get(code, ("",))[0]}
        if code == 501:
            body["error"] = "method_not_allowed"
        self._write(Reply(code, json=body), close=True)

    # --- the request ------------------------------------------------------------------
    def _base_url(self) -> str:
        context = self.server.context
        host = self.headers.get("Host", "").strip()
        if not _HOST.match(host):
            host = f"{context.fallback_host}:{self.server.server_port}"
        return f"{context.scheme}://{host}"

    def _read_body(self) -> Optional[bytes]:
        """The body, or None after answering 411/413/400 for one that cannot be read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._error_and_close(411, "chunked request bodies are not supported")
            return None
        raw_length = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw_length.isdigit():
            self._error_and_close(400, "invalid Content-Length")
            return None
        length = int(raw_length)
        if length > MAX_BODY:
            self._discard(length)
            self._error_and_close(413, f"request body larger than {MAX_BODY} bytes")
            return None
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        """Read (a bounded part of) a refused body, so the client sees the answer, not a reset."""
        remaining = min(length, _MAX_DISCARD)
        with contextlib.suppress(OSError):
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)

    def _error_and_close(self, status: int, description: str) -> None:
        error = "request_too_large" if status == 413 else "invalid_request"
        self._write(Reply(status, json={"error": error, "error_description": description}), True)

    def _serve(self) -> None:
        context = self.server.context
        split = urlsplit(self.path)
        path = split.path or "/"
        context.record(self.command, path)
        body = self._read_body()
        if body is None:
            return
        content_type = self.headers.get("Content-Type", _FORM).split(";")[0].strip().lower()
        form: dict[str, str] = {}
        text = ""
        if body and content_type in (_FORM, ""):
            form = _first_values(parse_qsl(body.decode("utf-8", "replace"), True))
        elif body:
            text = body.decode("utf-8", "replace")
        trimmed = path.strip("/")
        request = Request(
            method=self.command,
            path=path,
            segments=[unquote(part) for part in trimmed.split("/")] if trimmed else [],
            base_url=self._base_url(),
            params=_first_values(parse_qsl(split.query, True)),
            form=form,
            headers=_lower_headers(self.headers.items()),
            text=text,
        )
        reply = self._answer(request)
        if reply is None:  # an injected dropped connection
            self.close_connection = True
            return
        self._write(reply)

    def _answer(self, request: Request) -> Optional[Reply]:
        context = self.server.context
        try:
            latency = float(context.faults.latency)
            if latency > 0 and context.stopping.wait(latency):
                body = {"error": "temporarily_unavailable", "error_description": "stopping"}
                return Reply(503, json=body)
            context.faults.wait_if_held(request.path, context.stopping)
            failure = context.faults.take_failure(request.path)
            if failure is not None:
                return None if failure.drop else fault_reply(failure, request)
            return dispatch(context.provider, request, context.identity_header)
        except Exception:
            logger.exception("emulator: error answering %s %s", request.method, request.path)
            return Reply(
                500,
                json={
                    "error": "server_error",
                    "error_description": "The emulator failed to answer this request.",
                },
            )

    # --- writing ----------------------------------------------------------------------
    def _write(self, reply: Reply, close: bool = False) -> None:
        headers: dict[str, str] = {}
        status = reply.status
        if reply.location is not None:
            status = status if 300 <= status < 400 else 302
            headers["Location"] = reply.location
            headers["Content-Type"] = "text/html; charset=utf-8"
            payload = (reply.html or "").encode("utf-8")
        elif reply.json is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
            payload = _json_bytes(reply.json)
        elif reply.html is not None:
            headers["Content-Type"] = "text/html; charset=utf-8"
            payload = reply.html.encode("utf-8")
        elif reply.text is not None:
            headers["Content-Type"] = "text/plain; charset=utf-8"
            payload = reply.text.encode("utf-8")
        else:
            payload = b""
        wanted = {name.lower(): name for name in headers}
        for name, value in reply.headers.items():
            headers.pop(wanted.get(name.lower(), name), None)
            headers[name] = value
        headers["Content-Length"] = str(len(payload))
        if close or self.server.context.stopping.is_set():
            self.close_connection = True
            headers["Connection"] = "close"
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
        except OSError:  # the client went away
            self.close_connection = True


class EmulatorHTTPServer(ThreadingHTTPServer):
    """The listening server: per-connection threads, optional TLS, closable connections."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(
        self,
        address: tuple[str, int],
        context: ServerContext,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.context = context
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's thread: TLS handshake, then the HTTP exchanges."""
        connection: socket.socket = request
        self._track(request, add=True)
        try:
            if self.ssl_context is not None:
                try:
                    request.settimeout(_Handler.timeout)
                    connection = self.ssl_context.wrap_socket(request, server_side=True)
                except (OSError, ValueError) as exc:
                    logger.debug("emulator: TLS handshake failed: %s", type(exc).__name__)
                    return
                self._track(connection, add=True)
            _Handler(connection, client_address, self)
        finally:
            self._track(request, add=False)
            if connection is not request:
                self._track(connection, add=False)
                connection.close()

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection failed (reset, timeout, ...): log at DEBUG, never print."""
        logger.debug("emulator: connection error", exc_info=True)

    def close_connections(self) -> None:
        """Shut down every open connection so no handler thread waits on an idle client."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
