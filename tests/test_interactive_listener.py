"""The loopback listener: request parsing, answers, concurrency, timeouts and cleanup."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Optional

import pytest

from identitylib._interactive import LoopbackListener, Pages
from identitylib._interactive._listener import (
    HOST,
    MAX_REQUEST,
    Answer,
    BadRequest,
    Request,
    ResponseHandler,
    parse_request,
)

STATE = "expected-state"


def handler_for(port: int, pages: Optional[Pages] = None) -> ResponseHandler:
    return ResponseHandler(port, STATE, pages or Pages(), f"http://localhost:{port}/?abort")


def get(target: str, host: str = "localhost:8400", **headers: str) -> Request:
    return Request("GET", target, {"host": host, **{k.lower(): v for k, v in headers.items()}})


def post(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> Request:
    headers = {"host": "localhost:8400", "content-type": content_type}
    return Request("POST", "/", headers, body)


# ------------------------------------------------------------------------- parsing


def test_parse_request() -> None:
    assert parse_request(b"GET / HTTP/1.1\r\nHost: x") is None
    request = parse_request(b"GET /?a=1 HTTP/1.1\r\nHost: localhost:1\r\nX-Y: z\r\n\r\n")
    assert request == Request("GET", "/?a=1", {"host": "localhost:1", "x-y": "z"}, b"")
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n"
    assert parse_request(head + b"cod") is None
    complete = parse_request(head + b"code=ab")
    assert complete is not None
    assert complete.body == b"code=ab"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / SPDY/3\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-Y: z\r\n\r\n", 400),  # HTTP/1.1 without a Host header
        (b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400),  # not a token
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Y: a\x00b\r\n\r\n", 400),  # a control character
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET /" + b"a" * (MAX_REQUEST + 1), 431),
    ],
)
def test_malformed_requests(raw: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request(raw)
    assert caught.value.status == status


# ------------------------------------------------------------------------- answers


def test_answers() -> None:
    handler = handler_for(8400)
    assert handler.answer(get("/?code=c&state=x", host="evil.example:8400")).status == 421
    assert handler.answer(get("/", host="127.0.0.1:8400")).status == 400  # a bare visit
    assert handler.answer(get("/other?code=c")).status == 404
    assert handler.answer(get("/favicon.ico")).status == 404
    put = Request("PUT", "/", {"host": "localhost:8400"})
    assert handler.answer(put).status == 405
    assert handler.answer(put).headers == {"Allow": "GET, POST"}
    assert handler.answer(post(b"code=c", "application/json")).status == 415
    assert handler.answer(post(b"code=\xff&state=expected-state")).status == 400
    assert handler.answer(post(b"code=a&code=b&state=expected-state")).status == 400
    assert handler.answer(get("/?welcome=true")).status == 400  # no welcome template
    forged = handler.answer(post(b"code=c&state=other"))
    assert (forged.status, forged.auth_response) == (400, None)
    stateless = handler.answer(post(b"code=c"))
    assert (stateless.status, stateless.auth_response) == (400, None)


def test_accepted_responses() -> None:
    handler = handler_for(8400)
    ok = handler.answer(post(b"code=c&state=expected-state&session_state=s"))
    assert ok.status == 200
    assert ok.auth_response == {"code": "c", "state": "expected-state", "session_state": "s"}
    by_query = handler.answer(get("/?error=access_denied&state=expected-state"))
    assert by_query.auth_response == {"error": "access_denied", "state": "expected-state"}
    assert "Authentication failed" in by_query.body


def test_welcome_page_escapes_for_html() -> None:
    pages = Pages(welcome="<a href='$auth_uri'>go</a> <a href='$abort_uri'>stop</a>")
    handler = handler_for(8400, pages)
    handler.welcome("https://idp.example/authorize?a=1&b=2")
    answer = handler.answer(get("/?welcome=true"))
    assert answer.status == 200
    assert answer.body == (
        "<a href='https://idp.example/authorize?a=1&amp;b=2'>go</a> "
        "<a href='http://localhost:8400/?abort'>stop</a>"
    )


def test_answer_bytes() -> None:
    raw = Answer(200, "héllo").to_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == "héllo".encode()
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Length: 6" in lines
    assert "Connection: close" in lines
    assert "Cache-Control: no-store" in lines
    assert "Referrer-Policy: no-referrer" in lines


# ------------------------------------------------------------------------- live


@pytest.fixture
def listener() -> Iterator[LoopbackListener]:
    with LoopbackListener() as live:
        yield live
    assert live.closed


def connect(listener: LoopbackListener) -> socket.socket:
    return socket.create_connection((HOST, listener.port), timeout=5)


def exchange(listener: LoopbackListener, raw: bytes) -> bytes:
    with connect(listener) as conn:
        conn.sendall(raw)
        chunks: list[bytes] = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def form(listener: LoopbackListener, body: str) -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: localhost:{listener.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def in_thread(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def test_binds_loopback_only(listener: LoopbackListener) -> None:
    assert listener._socket.getsockname()[0] == "127.0.0.1"
    assert listener.redirect_uri == f"http://localhost:{listener.port}"


def test_idle_connections_do_not_block_the_real_response(listener: LoopbackListener) -> None:
    answers: list[bytes] = []
    idle = connect(listener)  # a browser's speculative pre-connection: never sends anything

    def client() -> None:
        time.sleep(0.1)
        answers.append(exchange(listener, b"BROKEN\r\n\r\n"))
        with connect(listener) as conn:  # a request arriving in pieces
            raw = form(listener, "code=c&state=expected-state")
            conn.sendall(raw[:20])
            time.sleep(0.3)
            conn.sendall(raw[20:])
            answers.append(conn.recv(65536))

    try:
        thread = in_thread(client)
        response = listener.wait(handler_for(listener.port), timeout=10)
        thread.join(5)
        assert not thread.is_alive()
        assert response == {"code": "c", "state": "expected-state"}
        assert answers[0].startswith(b"HTTP/1.1 400 ")
        assert answers[1].startswith(b"HTTP/1.1 200 OK")
        idle.settimeout(2)
        assert idle.recv(10) == b""  # closed by the listener on the way out
    finally:
        idle.close()


def test_timeout_returns_none_and_closes_connections(listener: LoopbackListener) -> None:
    readings: list[float] = []

    def clock() -> float:  # every reading is one second later than the one before
        readings.append(100.0 + len(readings))
        return readings[-1]

    idle = connect(listener)
    try:
        assert listener.wait(handler_for(listener.port), timeout=4, clock=clock) is None
        assert readings[-1] >= readings[0] + 4  # it gave up at the deadline, not before
        idle.settimeout(2)
        assert idle.recv(10) == b""
    finally:
        idle.close()


def test_interrupt_closes_everything() -> None:
    interrupt = threading.Event()

    def clock() -> float:
        if interrupt.is_set():
            raise KeyboardInterrupt
        return time.monotonic()

    def press_ctrl_c() -> None:
        time.sleep(0.3)
        interrupt.set()

    def wait_until_interrupted() -> None:
        with LoopbackListener() as listener:
            listeners.append(listener)
            idle.append(connect(listener))
            listener.wait(handler_for(listener.port), timeout=10, clock=clock)

    listeners: list[LoopbackListener] = []
    idle: list[socket.socket] = []
    thread = in_thread(press_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            wait_until_interrupted()
    finally:
        thread.join(5)
    [listener] = listeners
    [conn] = idle
    with conn:
        conn.settimeout(2)
        assert conn.recv(10) == b""  # the listener closed its connection on the way out
    assert listener.closed
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.bind((HOST, listener.port))
    probe.close()


def test_close_is_idempotent() -> None:
    listener = LoopbackListener()
    listener.close()
    listener.close()
    assert listener.closed
