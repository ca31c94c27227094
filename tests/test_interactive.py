"""acquire_token_interactive with a fake browser talking to the real loopback listener."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
from collections.abc import Callable
from html import unescape
from typing import Any, Optional
from urllib.parse import urlencode, urlsplit

import pytest
import responses

import identitylib
from identitylib import PublicClientApplication
from identitylib._interactive import BrowserInteractionTimeoutError, _browser
from tests import _ports as ports

from .conftest import CLIENT_ID
from .test_auth_code import AUTHORITY, AUTHORIZE, UID, UTID, FakeIdp, client_info, query_of

SCOPES = ["User.Read"]


def send(
    url: str, method: str = "GET", fields: Optional[dict[str, str]] = None
) -> tuple[int, str, dict[str, str]]:
    """One request to the loopback listener (http.client: untouched by ``responses``)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {}
        body = None
        if fields is not None:
            body = urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        conn.close()


class FakeBrowser:
    """Replaces the browser launcher; ``act(browser, url)`` runs on a thread per launch."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        act: Callable[[FakeBrowser, str], None],
        *,
        opens: bool = True,
    ) -> None:
        self.act = act
        self.opens = opens
        self.urls: list[str] = []
        self.answers: list[tuple[int, str, dict[str, str]]] = []
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        monkeypatch.setattr(_browser, "open_browser", self.open)

    def open(self, url: str) -> bool:
        self.urls.append(url)
        self.start(url)
        return self.opens

    def start(self, url: str) -> None:
        thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        thread.start()
        self.threads.append(thread)

    def _run(self, url: str) -> None:
        try:
            self.act(self, url)
        except BaseException as exc:
            self.errors.append(exc)

    def send(self, *args: Any, **kwargs: Any) -> tuple[int, str, dict[str, str]]:
        answer = send(*args, **kwargs)
        self.answers.append(answer)
        return answer

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)
            assert not thread.is_alive()
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def idp(http: responses.RequestsMock) -> FakeIdp:
    from .conftest import add_discovery

    return FakeIdp(http, add_discovery(http))


@pytest.fixture
def app() -> PublicClientApplication:
    return PublicClientApplication(CLIENT_ID, authority=AUTHORITY)


def sign_in_as_alice(
    idp: FakeIdp, code: str = "code-1", method: str = "POST"
) -> Callable[[FakeBrowser, str], None]:
    """The user signs in; the IdP answers the redirect URI (form_post or query)."""

    def act(browser: FakeBrowser, url: str) -> None:
        params = idp.authorize(url)
        fields = {
            "code": code,
            "state": params["state"],
            "session_state": "s",
            "client_info": client_info(),
        }
        if method == "POST":
            browser.send(params["redirect_uri"], "POST", fields)
        else:
            browser.send(f"{params['redirect_uri']}/?{urlencode(fields)}")

    return act


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port
    return port


def assert_port_free(port: int) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen(1)
    finally:
        probe.close()


@pytest.fixture
def free_port() -> int:
    return ports.free_port()


def test_form_post_sign_in(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    events: list[str] = []
    browser = FakeBrowser(monkeypatch, sign_in_as_alice(idp))
    original_open = browser.open

    def open_and_record(url: str) -> bool:
        events.append("browser")
        return original_open(url)

    monkeypatch.setattr(_browser, "open_browser", open_and_record)
    result = app.acquire_token_interactive(
        SCOPES,
        timeout=10,
        login_hint="alice@contoso.example",
        prompt="select_account",
        domain_hint="contoso.example",
        max_age=3600,
        ui_locales="fr",
        on_before_launching_ui=lambda **kw: events.append(f"ui={kw['ui']}"),
    )
    browser.join()
    assert result["access_token"] == "at-for-code-1", result
    assert result["token_source"] == "identity_provider"
    assert events == ["ui=browser", "browser"]
    [url] = browser.urls
    assert url.startswith(AUTHORIZE + "?")
    params = query_of(url)
    port = port_of(params["redirect_uri"])
    assert params["redirect_uri"] == f"http://localhost:{port}"
    assert params["response_mode"] == "form_post"
    assert params["code_challenge_method"] == "S256"
    assert params["scope"] == "User.Read offline_access openid profile"
    assert params["login_hint"] == "alice@contoso.example"
    assert params["prompt"] == "select_account"
    assert params["domain_hint"] == "contoso.example"
    assert params["max_age"] == "3600"
    assert params["ui_locales"] == "fr"
    assert params["client_info"] == "1"
    status, page, headers = browser.answers[0]
    assert status == 200
    assert "Authentication complete" in page
    assert headers["Content-Type"].startswith("text/html")
    body = idp.bodies[-1]
    assert body["grant_type"] == "authorization_code"
    assert body["redirect_uri"] == params["redirect_uri"]
    assert body["code_verifier"]
    assert "client_secret" not in body
    assert idp.headers[-1]["X-AnchorMailbox"] == f"Oid:{UID}@{UTID}"
    query = {"home_account_id": f"{UID}.{UTID}"}
    assert list(app.token_cache.search("Account", query=query))
    assert_port_free(port)


def test_query_response_is_accepted(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    browser = FakeBrowser(monkeypatch, sign_in_as_alice(idp, method="GET"))
    result = app.acquire_token_interactive(SCOPES, timeout=10)
    browser.join()
    assert "access_token" in result, result


def test_fixed_port(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication, free_port: int
) -> None:
    browser = FakeBrowser(monkeypatch, sign_in_as_alice(idp))
    assert "access_token" in app.acquire_token_interactive(SCOPES, timeout=10, port=free_port)
    browser.join()
    assert query_of(browser.urls[0])["redirect_uri"] == f"http://localhost:{free_port}"


def test_forged_and_stray_requests_do_not_end_the_flow(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    def act(browser: FakeBrowser, url: str) -> None:
        params = idp.authorize(url)
        redirect = params["redirect_uri"]
        browser.send(redirect, "POST", {"code": "stolen", "state": "forged"})
        browser.send(redirect, "POST", {"code": "stolen"})  # no state at all
        browser.send(f"{redirect}/?code=stolen&state=forged")
        browser.send(redirect)  # a bare visit
        browser.send(f"{redirect}/favicon.ico")
        browser.send(f"{redirect}/elsewhere?code=x&state={params['state']}")
        good = {"code": "code-good", "state": params["state"]}
        browser.send(redirect, "POST", good)

    browser = FakeBrowser(monkeypatch, act)
    result = app.acquire_token_interactive(SCOPES, timeout=10)
    browser.join()
    assert result["access_token"] == "at-for-code-good"
    statuses = [status for status, _, _ in browser.answers]
    assert statuses == [400, 400, 400, 400, 404, 404, 200]
    assert "does not belong" in browser.answers[0][1]
    assert [body["code"] for body in idp.bodies] == ["code-good"]


def test_timeout_raises_and_releases_the_port(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    browser = FakeBrowser(monkeypatch, lambda browser, url: None)
    with pytest.raises(BrowserInteractionTimeoutError, match=r"0\.5 seconds"):
        app.acquire_token_interactive(SCOPES, timeout=0.5)
    browser.join()
    assert issubclass(BrowserInteractionTimeoutError, RuntimeError)
    exported = getattr(
        identitylib, "BrowserInteractionTimeoutError", BrowserInteractionTimeoutError
    )
    assert exported is BrowserInteractionTimeoutError
    assert_port_free(port_of(query_of(browser.urls[0])["redirect_uri"]))
    assert idp.bodies == []


def test_auth_uri_callback_when_no_browser_opens(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    browser = FakeBrowser(monkeypatch, lambda browser, url: None, opens=False)
    handed: list[str] = []

    def callback(url: str) -> None:
        handed.append(url)
        browser.act = sign_in_as_alice(idp)
        browser.start(url)  # the user opens it by hand

    result = app.acquire_token_interactive(SCOPES, timeout=10, auth_uri_callback=callback)
    browser.join()
    assert "access_token" in result, result
    assert handed == browser.urls


def test_browser_that_raises_counts_as_not_opened(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    def broken(url: str) -> bool:
        raise OSError("no browser here")

    monkeypatch.setattr(_browser, "open_browser", broken)
    handed: list[str] = []
    with pytest.raises(BrowserInteractionTimeoutError):
        app.acquire_token_interactive(SCOPES, timeout=0.3, auth_uri_callback=handed.append)
    assert len(handed) == 1
    assert handed[0].startswith(AUTHORIZE)


def test_address_printed_when_no_browser_and_no_callback(
    monkeypatch: pytest.MonkeyPatch,
    idp: FakeIdp,
    app: PublicClientApplication,
    capsys: pytest.CaptureFixture[str],
) -> None:
    browser = FakeBrowser(monkeypatch, lambda browser, url: None, opens=False)
    with pytest.raises(BrowserInteractionTimeoutError):
        app.acquire_token_interactive(SCOPES, timeout=0.3)
    browser.join()
    err = capsys.readouterr().err
    assert browser.urls[0] in err
    assert "open this address" in err


def test_templates_are_overridable(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    browser = FakeBrowser(monkeypatch, sign_in_as_alice(idp))
    app.acquire_token_interactive(
        SCOPES, timeout=10, success_template="Signed in ($code, $session_state, $missing)."
    )
    browser.join()
    status, page, headers = browser.answers[0]
    assert (status, page) == (200, "Signed in (code-1, s, ).")
    assert headers["Content-Type"].startswith("text/plain")

    def decline(browser: FakeBrowser, url: str) -> None:
        params = idp.authorize(url)
        fields = {
            "error": "access_denied",
            "error_description": "<script>alert(1)</script>",
            "state": params["state"],
        }
        browser.send(params["redirect_uri"], "POST", fields)

    browser = FakeBrowser(monkeypatch, decline)
    result = app.acquire_token_interactive(
        SCOPES, timeout=10, error_template="<p>$error: $error_description ($error_uri)</p>"
    )
    browser.join()
    assert result == {"error": "access_denied", "error_description": "<script>alert(1)</script>"}
    status, page, headers = browser.answers[0]
    assert page == "<p>access_denied: &lt;script&gt;alert(1)&lt;/script&gt; ()</p>"
    assert headers["Content-Type"].startswith("text/html")


def test_default_error_page(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    def decline(browser: FakeBrowser, url: str) -> None:
        params = idp.authorize(url)
        fields = {"error": "access_denied", "error_description": "d", "state": params["state"]}
        browser.send(params["redirect_uri"], "POST", fields)

    browser = FakeBrowser(monkeypatch, decline)
    assert app.acquire_token_interactive(SCOPES, timeout=10)["error"] == "access_denied"
    browser.join()
    assert "Authentication failed" in browser.answers[0][1]


def test_welcome_page_and_abort(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    links: list[str] = []

    def act(browser: FakeBrowser, url: str) -> None:
        _, page, _ = browser.send(url)
        links.extend(unescape(href) for href in re.findall(r'href="([^"]*)"', page))
        browser.send(links[1])  # the user clicks "abort"

    browser = FakeBrowser(monkeypatch, act)
    result = app.acquire_token_interactive(
        SCOPES,
        timeout=10,
        welcome_template='<a href="$auth_uri">Sign in</a> <a href="$abort_uri">Abort</a>',
    )
    browser.join()
    assert re.fullmatch(r"http://localhost:\d+/\?welcome=true", browser.urls[0])
    assert links[0].startswith(AUTHORIZE + "?")
    assert result["error"] == "access_denied"
    assert idp.bodies == []


def test_claims_capabilities_and_extra_scopes(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp
) -> None:
    app = PublicClientApplication(CLIENT_ID, authority=AUTHORITY, client_capabilities=["CP1"])
    browser = FakeBrowser(monkeypatch, sign_in_as_alice(idp))
    challenge = json.dumps({"access_token": {"acrs": {"essential": True, "value": "c2"}}})
    result = app.acquire_token_interactive(
        SCOPES,
        timeout=10,
        claims_challenge=challenge,
        extra_scopes_to_consent=["https://graph.microsoft.com/Mail.Read"],
    )
    browser.join()
    assert "access_token" in result, result
    params = query_of(browser.urls[0])
    assert params["scope"].split() == [
        "User.Read",
        "https://graph.microsoft.com/Mail.Read",
        "offline_access",
        "openid",
        "profile",
    ]
    expected = {
        "access_token": {"acrs": {"essential": True, "value": "c2"}, "xms_cc": {"values": ["CP1"]}}
    }
    assert json.loads(params["claims"]) == expected
    body = idp.bodies[-1]
    assert body["scope"] == "User.Read offline_access openid profile"
    assert json.loads(body["claims"]) == expected


def test_wrong_nonce_is_an_error_result(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication
) -> None:
    browser = FakeBrowser(monkeypatch, sign_in_as_alice(idp))
    idp.id_claims = {"nonce": "replayed"}
    result = app.acquire_token_interactive(SCOPES, timeout=10)
    browser.join()
    assert result["error"] == "invalid_id_token"
    assert "nonce" in result["error_description"]
    assert list(app.token_cache.search("Account", query={})) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auth_scheme": object()}, "broker"),
        ({"port": 70000}, "port"),
        ({"port": "8400"}, "port"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "60"}, "timeout"),
        ({"scopes": ["openid"]}, "reserved"),
        ({"extra_scopes_to_consent": "Mail.Read"}, "extra_scopes_to_consent"),
        ({"claims_challenge": "{"}, "claims_challenge"),
        ({"max_age": -5}, "max_age"),
        ({"success_template": 3}, "success_template"),
        ({"auth_uri_callback": "print"}, "auth_uri_callback"),
    ],
)
def test_bad_arguments_fail_before_anything_happens(
    monkeypatch: pytest.MonkeyPatch,
    http: responses.RequestsMock,
    app: PublicClientApplication,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    browser = FakeBrowser(monkeypatch, lambda browser, url: None)
    kwargs.setdefault("scopes", SCOPES)
    with pytest.raises(ValueError, match=message):
        app.acquire_token_interactive(**kwargs)
    assert browser.urls == []
    assert len(http.calls) == 0


def test_port_in_use_is_a_value_error(
    monkeypatch: pytest.MonkeyPatch, http: responses.RequestsMock, app: PublicClientApplication
) -> None:
    FakeBrowser(monkeypatch, lambda browser, url: None)
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        with pytest.raises(ValueError, match="Can't listen on port"):
            app.acquire_token_interactive(SCOPES, port=busy.getsockname()[1], timeout=1)
    finally:
        busy.close()


def test_discovery_failure_is_an_error_result(
    monkeypatch: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    # A domain tenant is discovered (a tenant GUID on a well-known cloud is not).
    domain = AUTHORITY.rsplit("/", 1)[0] + "/contoso.onmicrosoft.com"
    app = PublicClientApplication(CLIENT_ID, authority=domain)
    http.get(
        f"{domain}/v2.0/.well-known/openid-configuration",
        status=400,
        json={"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found"},
    )
    browser = FakeBrowser(monkeypatch, lambda browser, url: None)
    result = app.acquire_token_interactive(SCOPES, timeout=1)
    assert result["error"] == "invalid_tenant"
    assert browser.urls == []


def test_callback_failure_propagates_and_closes_the_listener(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdp, app: PublicClientApplication, free_port: int
) -> None:
    FakeBrowser(monkeypatch, lambda browser, url: None)

    def boom(**kwargs: Any) -> None:
        raise RuntimeError("app said no")

    with pytest.raises(RuntimeError, match="app said no"):
        app.acquire_token_interactive(
            SCOPES, timeout=5, port=free_port, on_before_launching_ui=boom
        )
    assert_port_free(free_port)
