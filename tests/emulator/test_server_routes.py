"""The emulator's HTTP server: routing, parsing and reply writing, against a fake model."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from identitylib.emulator import DEMO_TENANT_ID as T
from identitylib.emulator._reply import Reply
from identitylib.emulator._server import MAX_BODY

from .server_fakes import TIMEOUT, FakeEmulator, small_config


@pytest.fixture(scope="module")
def server() -> Iterator[FakeEmulator]:
    with FakeEmulator(small_config()) as emu:
        yield emu


@pytest.fixture
def emu(server: FakeEmulator) -> FakeEmulator:
    server.fake.reset()
    server.faults.reset()
    server.reset_requests()
    return server


def call(emu: FakeEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    kwargs.setdefault("allow_redirects", False)
    return requests.request(method, emu.base_url + path, **kwargs)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "called", "expected"),
    [
        ("GET", f"/{T}/v2.0/.well-known/openid-configuration", {}, "openid_configuration",
         {"tenant": T}),
        ("GET", "/contoso.onmicrosoft.com/discovery/v2.0/keys", {}, "jwks",
         {"tenant": "contoso.onmicrosoft.com"}),
        ("GET", "/common/discovery/instance", {"params": {"api-version": "1.1",
         "authorization_endpoint": "https://x/common/oauth2/v2.0/authorize"}},
         "instance_discovery", {"params": {"api-version": "1.1",
         "authorization_endpoint": "https://x/common/oauth2/v2.0/authorize"}}),
        ("GET", "/organizations/discovery/instance", {}, "instance_discovery", {"params": {}}),
        ("GET", "/common/userrealm/alice%40contoso.com", {"params": {"api-version": "1.0"}},
         "user_realm", {"username": "alice@contoso.com"}),
        ("GET", "/adfs/services/trust/mex", {}, "federation_metadata", {}),
        ("POST", "/adfs/services/trust/13/usernamemixed",
         {"data": "<s:Envelope/>", "headers": {"Content-Type": "application/soap+xml"}},
         "wstrust", {"version": "13", "body": "<s:Envelope/>"}),
        ("POST", "/adfs/services/trust/2005/usernamemixed",
         {"data": b"<x>\xc3\xa9</x>", "headers": {"Content-Type": "application/soap+xml"}},
         "wstrust", {"version": "2005", "body": "<x>\u00e9</x>"}),
        ("GET", f"/{T}/oauth2/v2.0/authorize", {"params": {"client_id": "c", "state": "s"}},
         "authorize", {"tenant": T, "params": {"client_id": "c", "state": "s"}}),
        ("POST", "/common/oauth2/v2.0/authorize", {"data": {"client_id": "c"}}, "authorize",
         {"tenant": "common", "params": {"client_id": "c"}}),
        ("POST", "/organizations/oauth2/v2.0/authorize",
         {"data": {"txn": "t1", "username": "u", "password": "p"}}, "sign_in",
         {"tenant": "organizations", "form": {"txn": "t1", "username": "u", "password": "p"}}),
        ("POST", f"/{T}/oauth2/v2.0/token", {"data": {"grant_type": "client_credentials"}},
         "token", {"tenant": T, "form": {"grant_type": "client_credentials"}}),
        ("POST", f"/{T}/oauth2/v2.0/devicecode", {"data": {"client_id": "c"}}, "devicecode",
         {"tenant": T, "form": {"client_id": "c"}}),
        ("GET", "/devicelogin", {"params": {"code": "ABC"}}, "device_login_page",
         {"params": {"code": "ABC"}}),
        ("POST", "/devicelogin", {"data": {"user_code": "ABC"}}, "device_login",
         {"form": {"user_code": "ABC"}}),
        ("GET", f"/{T}/OAuth2/V2.0/Authorize", {}, "authorize", {"tenant": T}),
        ("GET", f"/{T}/oauth2/v2.0/logout", {"params": {"state": "s"}}, "end_session",
         {"tenant": T, "params": {"state": "s"}}),
        ("POST", f"/{T}/oauth2/v2.0/logout", {"data": {"state": "s"}}, "end_session",
         {"tenant": T, "params": {"state": "s"}}),
        ("GET", "/c.example/B2C_1_susi/v2.0/.well-known/openid-configuration", {},
         "openid_configuration", {"tenant": "c.example/B2C_1_susi"}),
        ("GET", "/tfp/c.example/b2c_1_susi/discovery/v2.0/keys", {}, "jwks",
         {"tenant": "c.example/b2c_1_susi"}),
        ("POST", "/c.example/B2C_1_susi/oauth2/v2.0/token", {"data": {"a": "b"}}, "token",
         {"tenant": "c.example/B2C_1_susi"}),
        ("GET", "/c.example/B2C_1_susi/oauth2/v2.0/logout", {}, "end_session",
         {"tenant": "c.example/B2C_1_susi"}),
        ("GET", "/c.example/B2C_1_susi/oauth2/v2.0/authorize",
         {"params": {"txn": "t", "action": "forgot_password"}}, "forgot_password",
         {"tenant": "c.example/B2C_1_susi", "params": {"txn": "t", "action": "forgot_password"}}),
        ("GET", "/demo-api/me", {"headers": {"Authorization": "Bearer x"}}, "demo_api_me", {}),
    ],
)  # fmt: skip
def test_every_endpoint_reaches_its_model_method(
    emu: FakeEmulator,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    called: str,
    expected: dict[str, Any],
) -> None:
    response = call(emu, method, path, **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["called"] == called
    for name, value in expected.items():
        assert body[name] == value
    if "base_url" in body:
        assert body["base_url"] == emu.base_url
    assert emu.requests == [(method, path.split("?")[0])]


def test_token_gets_lower_cased_headers_and_no_store(emu: FakeEmulator) -> None:
    response = call(
        emu,
        "POST",
        f"/{T}/oauth2/v2.0/token",
        data={"grant_type": "x"},
        headers={"Client-Request-Id": "corr-1", "X-Client-SKU": "identitylib"},
    )
    headers = response.json()["headers"]
    assert headers["client-request-id"] == "corr-1"
    assert headers["x-client-sku"] == "identitylib"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store, no-cache"
    assert response.headers["Pragma"] == "no-cache"
    assert response.headers["x-ms-request-id"]


def test_discovery_is_cacheable_but_not_its_errors(emu: FakeEmulator) -> None:
    response = call(emu, "GET", f"/{T}/v2.0/.well-known/openid-configuration")
    assert response.headers["Cache-Control"] == "max-age=86400, private"
    emu.fake.overrides["openid_configuration"] = Reply(400, json={"error": "invalid_tenant"})
    error = call(emu, "GET", "/nosuch.example/v2.0/.well-known/openid-configuration")
    assert error.status_code == 400
    assert error.headers["Cache-Control"] == "no-store, no-cache"


def test_reply_headers_win_over_defaults(emu: FakeEmulator) -> None:
    emu.fake.overrides["token"] = Reply(
        400,
        json={"error": "invalid_grant", "trace_id": "trace-1"},
        headers={"cache-control": "private", "X-Extra": "1"},
    )
    response = call(emu, "POST", f"/{T}/oauth2/v2.0/token", data={"a": "b"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["Cache-Control"] == "private"
    assert "Pragma" not in response.headers
    assert response.headers["X-Extra"] == "1"
    assert response.headers["x-ms-request-id"] == "trace-1"


def test_form_and_query_parsing(emu: FakeEmulator) -> None:
    raw = "scope=a+b%20c&empty=&dup=first&dup=second&uni=%C3%A9t%C3%A9&plus=%2B"
    response = call(
        emu,
        "POST",
        f"/{T}/oauth2/v2.0/token?ignored=1",
        data=raw,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert response.json()["form"] == {
        "scope": "a b c",
        "empty": "",
        "dup": "first",
        "uni": "été",
        "plus": "+",
    }
    query = call(emu, "GET", f"/{T}/oauth2/v2.0/authorize?a=1+2&a=3&b=&c=%26")
    assert query.json()["params"] == {"a": "1 2", "b": "", "c": "&"}


def test_non_form_bodies_are_not_parsed(emu: FakeEmulator) -> None:
    response = call(emu, "POST", f"/{T}/oauth2/v2.0/token", json={"grant_type": "x"})
    assert response.json()["form"] == {}


def test_base_url_follows_the_host_header(emu: FakeEmulator) -> None:
    path = f"/{T}/v2.0/.well-known/openid-configuration"
    named = call(emu, "GET", path, headers={"Host": "localhost:1234"})
    assert named.json()["base_url"] == "http://localhost:1234"
    odd = call(emu, "GET", path, headers={"Host": "evil.example/<script>"})
    assert odd.json()["base_url"] == emu.base_url


@pytest.mark.parametrize("status", [302, 303])
def test_redirect_reply(emu: FakeEmulator, status: int) -> None:
    location = "http://localhost:5000/cb?code=c1&state=s"
    emu.fake.overrides["sign_in"] = Reply(status, location=location)
    response = call(emu, "POST", f"/{T}/oauth2/v2.0/authorize", data={"txn": "t"})
    assert response.status_code == status
    assert response.headers["Location"] == location
    assert response.content == b""


def test_redirect_with_default_status_is_302(emu: FakeEmulator) -> None:
    emu.fake.overrides["authorize"] = Reply(location="http://localhost/cb?error=x")
    response = call(emu, "GET", f"/{T}/oauth2/v2.0/authorize")
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/cb?error=x"


def test_html_and_text_replies(emu: FakeEmulator) -> None:
    emu.fake.overrides["device_login_page"] = Reply(html="<h1>Enter code</h1>")
    page = call(emu, "GET", "/devicelogin")
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.text == "<h1>Enter code</h1>"
    emu.fake.overrides["authorize"] = Reply(400, html="<p>AADSTS50011 é</p>")
    error_page = call(emu, "GET", f"/{T}/oauth2/v2.0/authorize")
    assert error_page.status_code == 400
    assert error_page.content.decode("utf-8") == "<p>AADSTS50011 é</p>"
    emu.fake.overrides["device_login"] = Reply(text="plain")
    text = call(emu, "POST", "/devicelogin", data={"a": "b"})
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.text == "plain"


def test_empty_reply(emu: FakeEmulator) -> None:
    emu.fake.overrides["jwks"] = Reply(204)
    response = call(emu, "GET", f"/{T}/discovery/v2.0/keys")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize("error", [RuntimeError("secret-value leaked"), NotImplementedError()])
def test_model_failure_is_a_500_json_without_traceback(
    emu: FakeEmulator, error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    emu.fake.overrides["token"] = error
    with caplog.at_level(logging.CRITICAL, logger="identitylib.emulator"):
        response = call(emu, "POST", f"/{T}/oauth2/v2.0/token", data={"a": "b"})
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "secret-value" not in response.text
    assert "Traceback" not in response.text
    assert call(emu, "GET", f"/{T}/discovery/v2.0/keys").status_code == 200


@pytest.mark.parametrize(
    "path", ["/", "/nope", f"/{T}", f"/{T}/oauth2/v2.0/logoff", f"/{T}/v2.0/x", "/a/b/c/d/e"]
)
def test_unknown_paths_are_404_json(emu: FakeEmulator, path: str) -> None:
    response = call(emu, "GET", path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert emu.fake.calls == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", f"/{T}/oauth2/v2.0/token", "POST"),
        ("GET", f"/{T}/oauth2/v2.0/devicecode", "POST"),
        ("POST", f"/{T}/v2.0/.well-known/openid-configuration", "GET"),
        ("POST", "/common/userrealm/a@b.c", "GET"),
        ("POST", "/adfs/services/trust/mex", "GET"),
        ("GET", "/adfs/services/trust/13/usernamemixed", "POST"),
    ],
)
def test_wrong_method_is_405(emu: FakeEmulator, method: str, path: str, allow: str) -> None:
    response = call(emu, method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json()["error"] == "method_not_allowed"


def test_unsupported_method_is_json(emu: FakeEmulator) -> None:
    response = call(emu, "PUT", f"/{T}/oauth2/v2.0/token", data={"a": "b"})
    assert response.status_code == 501
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "method_not_allowed"


def test_malformed_request_line_gets_json_400(emu: FakeEmulator) -> None:
    host, port = emu.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b'"error":"invalid_request"' in body


def test_body_cap(emu: FakeEmulator) -> None:
    path = f"/{T}/oauth2/v2.0/token"
    at_limit = "a=" + "x" * (MAX_BODY - 2)
    assert call(emu, "POST", path, data=at_limit).json()["form"]["a"] == "x" * (MAX_BODY - 2)
    too_big = call(emu, "POST", path, data=at_limit + "x")
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "request_too_large"
    assert [c for c, _ in emu.fake.calls] == ["token"]


def test_bad_content_length_is_400(emu: FakeEmulator) -> None:
    host, port = emu.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(f"POST /{T}/oauth2/v2.0/token HTTP/1.1\r\nContent-Length: x\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400")


def test_request_log_and_keep_alive(emu: FakeEmulator) -> None:
    with requests.Session() as session:
        for _ in range(3):
            session.get(f"{emu.base_url}/{T}/discovery/v2.0/keys?x=1", timeout=TIMEOUT)
        session.post(f"{emu.base_url}/{T}/oauth2/v2.0/token", data={"a": "b"}, timeout=TIMEOUT)
    snapshot = emu.requests
    assert snapshot == [("GET", f"/{T}/discovery/v2.0/keys")] * 3 + [
        ("POST", f"/{T}/oauth2/v2.0/token")
    ]
    snapshot.clear()
    assert len(emu.requests) == 4
    emu.reset_requests()
    assert emu.requests == []


def test_request_log_under_concurrency(emu: FakeEmulator) -> None:
    def fetch() -> None:
        call(emu, "GET", "/devicelogin")

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert emu.requests == [("GET", "/devicelogin")] * 20


def test_logs_hold_no_query_or_body_and_stderr_stays_quiet(
    emu: FakeEmulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG, logger="identitylib.emulator"):
        call(emu, "GET", f"/{T}/oauth2/v2.0/authorize?code=SECRET-CODE-1")
        call(emu, "POST", f"/{T}/oauth2/v2.0/token", data={"password": "SECRET-PW-2"})
        call(emu, "GET", "/nope?client_secret=SECRET-3")
    # The emulator's own records (the HTTP client's, e.g. urllib3 at DEBUG when an earlier
    # test left it so, log what the client sent: not the emulator's business).
    text = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("identitylib.emulator")
    )
    assert f"GET /{T}/oauth2/v2.0/authorize" in text
    assert "SECRET" not in text
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


@pytest.mark.parametrize(
    ("path", "called"),
    [
        (f"/{T}/v2.0/.well-known/openid-configuration", "openid_configuration"),
        (f"/{T}/discovery/v2.0/keys", "jwks"),
        ("/common/discovery/instance", "instance_discovery"),
    ],
)
def test_discovery_gets_headers_and_jwks_the_base_url(
    emu: FakeEmulator, path: str, called: str
) -> None:
    body = call(emu, "GET", path, headers={"Client-Request-Id": "corr-2"}).json()
    assert body["called"] == called
    assert body["headers"]["client-request-id"] == "corr-2"
    assert body["base_url"] == emu.base_url
