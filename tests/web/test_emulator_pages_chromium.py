"""A real browser (headless Chromium) on the emulator's web-app pages: the consent step
(Accept), a B2C page's "Forgot your password?" link, and the provider's sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest

import identitylib
from identitylib.emulator import (
    DEMO_API2_ID,
    DEMO_API2_URI,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)
from tests._servers import require_module

from .conftest import browser_sign_in, serve_wsgi, wait_for

require_module("werkzeug")

API2_SCOPE = f"{DEMO_API2_URI}/read"


def _echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The app's redirect URI: shows what arrived in the query."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"back at the app"]


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    with serve_wsgi(_echo) as base:
        yield f"{base}/"


def _web_app(authority: str) -> Any:
    return identitylib.ConfidentialClientApplication(
        DEMO_WEB_ID, DEMO_WEB_SECRET, authority=authority
    )


def _returned(driver: Any, app_url: str) -> dict[str, str]:
    wait_for(driver, lambda d: d.current_url.startswith(app_url))
    return dict(parse_qsl(urlsplit(driver.current_url).query))


def test_the_user_accepts_consent_in_a_browser(chromium: Any, emu: Emulator, app_url: str) -> None:
    from selenium.webdriver.common.by import By

    emu.provider.revoke_consent()
    app = _web_app(emu.authority())
    flow = app.initiate_auth_code_flow([API2_SCOPE], redirect_uri=app_url, response_mode="query")
    chromium.delete_all_cookies()
    chromium.get(flow["auth_uri"])
    browser_sign_in(chromium)
    wait_for(chromium, lambda d: d.find_elements(By.CSS_SELECTOR, "button[value='accept']"))
    assert "Permissions requested" in chromium.page_source
    chromium.find_element(By.CSS_SELECTOR, "button[value='accept']").click()
    result = app.acquire_token_by_auth_code_flow(flow, _returned(chromium, app_url))
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == DEMO_API2_ID


def test_forgot_your_password_link(chromium: Any, emu: Emulator, app_url: str) -> None:
    from selenium.webdriver.common.by import By

    app = _web_app(emu.b2c_authority())
    flow = app.initiate_auth_code_flow([], redirect_uri=app_url, response_mode="query")
    chromium.delete_all_cookies()
    chromium.get(flow["auth_uri"])
    wait_for(chromium, lambda d: d.find_elements(By.ID, "forgotPassword"))
    chromium.find_element(By.ID, "forgotPassword").click()
    answer = _returned(chromium, app_url)
    assert answer["error"] == "access_denied"
    assert answer["error_description"].startswith("AADB2C90118")
    assert answer["state"] == flow["state"]


def test_sign_out_at_the_provider_returns_to_the_app(
    chromium: Any, emu: Emulator, app_url: str
) -> None:
    from urllib.parse import urlencode

    query = urlencode({"post_logout_redirect_uri": app_url, "client_id": DEMO_WEB_ID})
    chromium.get(f"{emu.authority()}/oauth2/v2.0/logout?{query}")
    wait_for(chromium, lambda d: d.current_url == app_url)
    assert [logout.redirected_to for logout in emu.logouts] == [app_url]
