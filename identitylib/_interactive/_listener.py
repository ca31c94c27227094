"""A loopback HTTP listener that receives one authorization response (RFC 8252 §7.3).

It binds ``127.0.0.1`` only, serves the redirect path ``/`` and nothing else (404), takes
the response as a ``form_post`` body or as a query string, and refuses any response whose
``state`` is not the expected one while it keeps waiting: a forged request never ends a
sign-in. There are no threads: one selector loop with short waits, so Ctrl+C interrupts
it on every platform, and every socket is closed on every way out.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import h11

from identitylib._log import get_logger

from ._templates import (
    NOT_A_RESPONSE_PAGE,
    NOT_FOUND_PAGE,
    STATE_MISMATCH_PAGE,
    Pages,
    is_html,
    render,
)

logger = get_logger(__name__)

#: The only address the listener binds: never a public interface.
HOST = "127.0.0.1"
#: Largest request accepted (head and body), in bytes.
MAX_REQUEST = 64 * 1024
#: Seconds a connection gets to send its whole request.
CONNECTION_TIMEOUT = 10.0
#: Longest single wait of the loop, in seconds (how quickly Ctrl+C and the timeout act).
TICK = 0.2
#: Connections kept open at once; the oldest is dropped beyond it.
MAX_CONNECTIONS = 16
#: Most parameters parsed from one response.
MAX_FIELDS = 100

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    """What the listener sends back, and the authorization response it accepted, if any."""

    status: int
    body: str
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    auth_response: Optional[dict[str, str]] = None

    def to_bytes(self) -> bytes:
        """The complete HTTP/1.1 response, serialised by h11."""
        payload = self.body.encode("utf-8")
        headers = [
            ("Content-Type", f"{self.content_type}; charset=utf-8"),
            ("Content-Length", str(len(payload))),
            ("Connection", "close"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            *self.headers.items(),
        ]
        reason = _REASONS.get(self.status, "Error").encode("ascii")
        writer = h11.Connection(h11.SERVER)
        return b"".join(
            writer.send(event) or b""
            for event in (
                h11.Response(status_code=self.status, headers=headers, reason=reason),
                h11.Data(data=payload),
                h11.EndOfMessage(),
            )
        )


def _page(status: int, text: str, **headers: str) -> Answer:
    return Answer(status, text, "text/html" if is_html(text) else "text/plain", dict(headers))


class BadRequest(Exception):
    """A request that cannot be parsed; ``status`` says why."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def parse_request(buffer: bytes) -> Optional[Request]:
    """The request in ``buffer``; None while incomplete; :class:`BadRequest` if malformed.

    h11 parses (request line, headers, framing); the listener adds its own bounds: a head and
    a body of at most :data:`MAX_REQUEST` bytes each, and no chunked body (a form has a length).
    """
    reader = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST)
    reader.receive_data(buffer)
    try:
        head = reader.next_event()
        if head is h11.NEED_DATA:
            return None
        if not isinstance(head, h11.Request):
            raise BadRequest(400)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in head.headers}
        if "transfer-encoding" in headers:
            raise BadRequest(501)
        if int(headers.get("content-length", "0")) > MAX_REQUEST:
            raise BadRequest(413)
        body = b""
        while True:
            event = reader.next_event()
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
    except h11.RemoteProtocolError as exc:
        raise BadRequest(exc.error_status_hint) from None
    return Request(head.method.decode("ascii"), head.target.decode("latin-1"), headers, body)


class ResponseHandler:
    """Decides the answer to each request; accepts only a response with the right state."""

    def __init__(self, port: int, expected_state: str, pages: Pages, abort_uri: str) -> None:
        self._hosts = {f"localhost:{port}", f"{HOST}:{port}"}
        self._state = expected_state.encode("utf-8")
        self._pages = pages
        self._abort_uri = abort_uri
        self._welcome_target: Optional[str] = None

    def welcome(self, auth_uri: str) -> None:
        """Remember the auth URI the welcome page links to."""
        self._welcome_target = auth_uri

    def answer(self, request: Request) -> Answer:
        """The answer to ``request`` (with the accepted auth response, if it is one)."""
        if request.headers.get("host", "").lower() not in self._hosts:
            return _page(421, "This listener answers only to localhost.\n")
        target = urlsplit(request.target)
        if target.path not in ("", "/"):
            return _page(404, NOT_FOUND_PAGE)
        if request.method == "GET":
            text = target.query
        elif request.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                return _page(415, "Expected a form (application/x-www-form-urlencoded).\n")
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                return _page(400, "The form is not UTF-8.\n")
        else:
            return _page(405, "Method not allowed.\n", Allow="GET, POST")
        try:
            parsed = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:
            return _page(400, "Too many parameters.\n")
        if any(len(values) != 1 for values in parsed.values()):
            return _page(400, "A parameter is repeated.\n")
        fields = {name: values[0] for name, values in parsed.items()}
        if request.method == "GET" and fields.get("welcome") == "true" and self._pages.welcome:
            body, content_type = render(
                self._pages.welcome,
                {"auth_uri": self._welcome_target or "", "abort_uri": self._abort_uri},
            )
            return Answer(200, body, content_type)
        if not fields.get("code") and not fields.get("error"):
            return _page(400, NOT_A_RESPONSE_PAGE)
        if not hmac.compare_digest(fields.get("state", "").encode("utf-8"), self._state):
            logger.warning(
                "Ignored an authorization response with a wrong state (a stale or forged "
                "request); still waiting for the sign-in"
            )
            return _page(400, STATE_MISMATCH_PAGE)
        template = self._pages.success if fields.get("code") else self._pages.error
        body, content_type = render(template, fields)
        return Answer(200, body, content_type, auth_response=fields)


@dataclass
class _Connection:
    opened: float
    buffer: bytes = b""


class LoopbackListener:
    """Listens on ``127.0.0.1:port`` (``port=0``: a free port) until closed.

    Use as a context manager so the socket is closed whatever happens. Raises ValueError
    when the port cannot be bound.
    """

    def __init__(self, port: int = 0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if os.name == "nt":  # refuse to share the port with another process
                sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_EXCLUSIVEADDRUSE", 0), 1)
            else:  # rebind a port whose last connections are in TIME_WAIT
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, port))
            sock.listen(MAX_CONNECTIONS)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise ValueError(
                f"Can't listen on port {port} of {HOST} ({exc.strerror or exc}). "
                "Pass port=None to use any free port."
            ) from exc
        self._socket = sock
        self.port: int = sock.getsockname()[1]

    @property
    def redirect_uri(self) -> str:
        """``http://localhost:{port}``: the redirect URI an interactive sign-in uses."""
        return f"http://localhost:{self.port}"

    @property
    def closed(self) -> bool:
        """True once the listening socket is closed."""
        return self._socket.fileno() < 0

    def abort_uri(self, state: str) -> str:
        """A link that ends the wait with an ``access_denied`` error (welcome pages)."""
        query = urlencode(
            {
                "error": "access_denied",
                "error_description": "The user aborted the sign-in",
                "state": state,
            }
        )
        return f"{self.redirect_uri}/?{query}"

    def close(self) -> None:
        """Stop listening (idempotent)."""
        self._socket.close()

    def __enter__(self) -> LoopbackListener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait(
        self,
        handler: ResponseHandler,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> Optional[dict[str, str]]:
        """Serve requests until ``handler`` accepts an auth response; None after ``timeout``."""
        deadline = clock() + timeout
        selector = selectors.DefaultSelector()
        connections: dict[socket.socket, _Connection] = {}
        selector.register(self._socket, selectors.EVENT_READ)

        def drop(conn: socket.socket) -> None:
            connections.pop(conn, None)
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(conn)
            conn.close()

        try:
            while True:
                now = clock()
                if now >= deadline:
                    return None
                for key, _ in selector.select(min(TICK, deadline - now)):
                    if key.fileobj is self._socket:
                        self._accept(selector, connections, drop, clock())
                        continue
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    accepted = self._read(conn, connections, handler, drop)
                    if accepted is not None:
                        return accepted
                now = clock()
                for conn, state in list(connections.items()):
                    if now - state.opened > CONNECTION_TIMEOUT:
                        drop(conn)
        finally:
            for conn in list(connections):
                drop(conn)
            selector.close()

    def _accept(
        self,
        selector: selectors.BaseSelector,
        connections: dict[socket.socket, _Connection],
        drop: Callable[[socket.socket], None],
        now: float,
    ) -> None:
        try:
            conn, _ = self._socket.accept()
        except OSError:  # BlockingIOError, or a connection reset before it was accepted
            return
        conn.setblocking(False)
        if len(connections) >= MAX_CONNECTIONS:
            drop(min(connections, key=lambda c: connections[c].opened))
        connections[conn] = _Connection(now)
        selector.register(conn, selectors.EVENT_READ)

    @staticmethod
    def _read(
        conn: socket.socket,
        connections: dict[socket.socket, _Connection],
        handler: ResponseHandler,
        drop: Callable[[socket.socket], None],
    ) -> Optional[dict[str, str]]:
        state = connections.get(conn)
        if state is None:
            return None
        try:
            chunk = conn.recv(MAX_REQUEST)
        except BlockingIOError:
            return None
        except OSError:
            drop(conn)
            return None
        if not chunk:
            drop(conn)
            return None
        state.buffer += chunk
        try:
            request = parse_request(state.buffer)
        except BadRequest as bad:
            _send(conn, _page(bad.status, "Bad request.\n"))
            drop(conn)
            return None
        if request is None:
            return None
        answer = handler.answer(request)
        logger.debug(
            "Loopback listener: %s %s -> %d",
            request.method,
            urlsplit(request.target).path,  # never the query: it may hold a code
            answer.status,
        )
        _send(conn, answer)
        drop(conn)
        return answer.auth_response


def _send(conn: socket.socket, answer: Answer) -> None:
    try:
        conn.setblocking(True)
        conn.settimeout(2.0)
        conn.sendall(answer.to_bytes())
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the browser went away; the answer only informs the user
