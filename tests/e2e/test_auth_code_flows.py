"""identitylib's authorization code flows end to end against the emulator, over real HTTP.

The web-app flow is driven by the form-filling HTTP 'browser' of ``_browser.py``; the
interactive flow too, with the browser launcher replaced by one that signs in on the
emulator's page and delivers the ``form_post`` answer to the real loopback listener.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

import identitylib
from identitylib._interactive import _browser
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)

from ._browser import form_post_fields, forms_in, sign_in

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
API_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
WEB_REDIRECT = "http://localhost:5000/getAToken"


@pytest.fixture(scope="module", params=["http", "https"])
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(tls=request.param == "https") as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.faults.reset()
    emu.reset_requests()


def browser_session(emu: Emulator) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_path or True
    return session


def web_app(emu: Emulator) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.authority(), verify=emu.ca_path or True
    )


def cli_app(emu: Emulator) -> identitylib.PublicClientApplication:
    return identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path or True
    )


def cached(app: Any, credential_type: str, username: str = ALICE) -> list[dict[str, Any]]:
    accounts = [
        a
        for a in app.token_cache.search("Account", query={})
        if a.get("username", "").lower() == username
    ]
    if credential_type == "Account":
        return accounts
    homes = {a["home_account_id"] for a in accounts}
    return [
        entry
        for home in homes
        for entry in app.token_cache.search(credential_type, query={"home_account_id": home})
    ]


def test_web_app_flow_form_post(emu: Emulator) -> None:
    app = web_app(emu)
    flow = app.initiate_auth_code_flow(
        API_SCOPES, redirect_uri=WEB_REDIRECT, response_mode="form_post"
    )
    answer = sign_in(browser_session(emu), flow["auth_uri"], ALICE, ALICE_PASSWORD)
    auth_response = form_post_fields(answer)
    assert set(auth_response) >= {"code", "state", "session_state", "client_info"}
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE
    assert result["id_token_claims"]["aud"] == DEMO_WEB_ID
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == DEMO_API_ID
    assert claims["scp"] == "access_as_user"
    [account] = cached(app, "Account")
    assert account["account_source"] == "authorization_code"
    assert account["realm"] == DEMO_TENANT_ID
    assert cached(app, "RefreshToken")

    again = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert again["error"] == "invalid_grant"
    assert 54005 in again["error_codes"]


def test_web_app_flow_query(emu: Emulator) -> None:
    app = web_app(emu)
    flow = app.initiate_auth_code_flow(API_SCOPES, redirect_uri=WEB_REDIRECT)
    answer = sign_in(browser_session(emu), flow["auth_uri"], ALICE, ALICE_PASSWORD)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(WEB_REDIRECT + "?")
    auth_response = parse_qs(urlsplit(location).query)  # lists, as parse_qs gives them
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result


def test_web_app_flow_declined(emu: Emulator) -> None:
    app = web_app(emu)
    flow = app.initiate_auth_code_flow(
        API_SCOPES, redirect_uri=WEB_REDIRECT, response_mode="form_post"
    )
    session = browser_session(emu)
    page = session.get(flow["auth_uri"], timeout=10)
    form = next(f for f in forms_in(page.text, page.url) if "password" in f.fields)
    form.fields["action"] = "decline"
    answer = session.post(form.action, data=form.fields, timeout=10, allow_redirects=False)
    result = app.acquire_token_by_auth_code_flow(flow, form_post_fields(answer))
    assert result["error"] == "access_denied"
    assert "AADSTS65004" in result["error_description"]


def test_web_app_flow_refuses_a_forged_response(emu: Emulator) -> None:
    app = web_app(emu)
    victim = app.initiate_auth_code_flow(API_SCOPES, redirect_uri=WEB_REDIRECT)
    attacker = app.initiate_auth_code_flow(API_SCOPES, redirect_uri=WEB_REDIRECT)
    answer = sign_in(browser_session(emu), attacker["auth_uri"], ALICE, ALICE_PASSWORD)
    auth_response = parse_qs(urlsplit(answer.headers["Location"]).query)
    with pytest.raises(ValueError, match="state mismatch"):
        app.acquire_token_by_auth_code_flow(victim, auth_response)


class EmulatorUser:
    """Replaces the browser launcher: signs in on the emulator's page as a user would and
    lets the page's form_post reach the loopback listener."""

    def __init__(self, emu: Emulator, password: str = ALICE_PASSWORD) -> None:
        self.emu = emu
        self.password = password
        self.urls: list[str] = []
        self.listener_pages: list[requests.Response] = []
        self.sign_in_pages: list[requests.Response] = []
        self.errors: list[BaseException] = []
        self.thread: threading.Thread | None = None

    def open(self, url: str) -> bool:
        self.urls.append(url)
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()
        return True

    def _run(self, url: str) -> None:
        try:
            session = browser_session(self.emu)
            answer = sign_in(session, url, ALICE, self.password)
            [form] = forms_in(answer.text, answer.url)
            if "password" in form.fields:  # the sign-in page again, with an error
                self.sign_in_pages.append(answer)
                return
            page = requests.post(form.action, data=form.fields, timeout=10)  # the auto-submit
            self.listener_pages.append(page)
        except BaseException as exc:
            self.errors.append(exc)

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(15)
        assert not self.thread.is_alive()
        if self.errors:
            raise self.errors[0]


def test_interactive_sign_in(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    user = EmulatorUser(emu)
    monkeypatch.setattr(_browser, "open_browser", user.open)
    app = cli_app(emu)
    result = app.acquire_token_interactive(API_SCOPES, timeout=30, login_hint=ALICE)
    user.join()
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"
    assert result["id_token_claims"]["preferred_username"] == ALICE
    assert result["id_token_claims"]["aud"] == DEMO_CLI_ID
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == DEMO_API_ID
    [page] = user.listener_pages
    assert page.status_code == 200
    assert "Authentication complete" in page.text
    query = parse_qs(urlsplit(user.urls[0]).query)
    assert query["response_mode"] == ["form_post"]
    assert query["redirect_uri"][0].startswith("http://localhost:")
    [account] = cached(app, "Account")
    assert account["account_source"] == "authorization_code"
    [refresh_token] = cached(app, "RefreshToken")
    assert refresh_token["client_id"] == DEMO_CLI_ID
    assert cached(app, "IdToken")


def test_interactive_wrong_password_then_timeout(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = EmulatorUser(emu, password="wrong")
    monkeypatch.setattr(_browser, "open_browser", user.open)
    with pytest.raises(identitylib._interactive.BrowserInteractionTimeoutError):
        cli_app(emu).acquire_token_interactive(API_SCOPES, timeout=2)
    assert user.thread is not None
    user.thread.join(15)  # the user is still looking at the sign-in page: no form_post
    assert user.listener_pages == []
    [page] = user.sign_in_pages
    assert "invalid username or password" in page.text
