"""A real browser (headless Chromium) signs in to a running Flask app, against the emulator.

The app runs on ``localhost``, the emulator on ``127.0.0.1``: two sites, so the
provider's ``form_post`` reaches the app as a cross-site POST without the ``SameSite=Lax``
session cookie, exactly as with a real provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests._servers import require_module

flask = require_module("flask")

import requests  # noqa: E402

from identitylib.emulator import (  # noqa: E402
    DEMO_API2_URI,
    DEMO_API_URI,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)
from identitylib.web.flask import FlaskAuth  # noqa: E402

from .conftest import ALICE, browser_sign_in, page_json, serve_wsgi, wait_for, whole_visit  # noqa: E402

API_SCOPE = f"{DEMO_API_URI}/access_as_user"
API2_SCOPE = f"{DEMO_API2_URI}/read"  # needs the user's consent, asked for when first used


@pytest.fixture(scope="module")
def site(emu: Emulator) -> Iterator[tuple[str, FlaskAuth]]:
    app = flask.Flask(__name__)
    app.secret_key = "chromium-test-secret-key"
    auth = FlaskAuth(
        app,
        client_id=DEMO_WEB_ID,
        client_credential=DEMO_WEB_SECRET,
        authority=emu.authority(),
        scopes=[API_SCOPE],
    )

    @app.get("/")
    def index() -> Any:
        user = auth.user
        return {"user": user.username if user else None}

    @app.get("/orders")
    @auth.login_required
    def orders() -> Any:
        token = auth.token_for_user([API_SCOPE])
        return {"page": "orders", "user": auth.user.username if auth.user else None,
                "token": bool(token.get("access_token"))}  # fmt: skip

    @app.get("/demo-api")
    @auth.login_required
    def demo_api() -> Any:
        """A downstream API: the emulator's demo API, called with the user's token."""
        token = auth.token_for_user([API_SCOPE])["access_token"]
        answer = requests.get(emu.demo_api_url, headers={"Authorization": f"Bearer {token}"},
                              timeout=10)  # fmt: skip
        return {"status": answer.status_code, "user": answer.json().get("preferred_username")}

    @app.get("/stock")
    @auth.login_required
    def stock() -> Any:
        """A second API, whose scope the user has not consented to yet."""
        token = auth.token_for_user([API2_SCOPE])
        return {"page": "stock", "token": bool(token.get("access_token"))}

    @app.get("/signout")
    def signout_page() -> str:
        return (
            '<form method="post" action="/auth/logout">'
            f'<input type="hidden" name="csrf_token" value="{auth.csrf_token()}">'
            '<button id="out" type="submit">Sign out</button></form>'
        )

    with serve_wsgi(app) as base:
        yield base, auth


def test_sign_in_returns_to_the_page_and_calls_the_api(
    chromium: Any, site: tuple[str, FlaskAuth], emu: Emulator
) -> None:
    base, _ = site
    chromium.delete_all_cookies()
    chromium.get(f"{base}/orders?id=7")
    wait_for(chromium, lambda d: d.current_url.startswith(emu.base_url))
    browser_sign_in(chromium)
    wait_for(chromium, lambda d: d.current_url == f"{base}/orders?id=7")
    assert page_json(chromium) == {"page": "orders", "user": ALICE, "token": True}
    cookie = chromium.get_cookie("session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert "eyJ" not in cookie["value"]  # no token in the cookie


def test_sign_out_clears_the_session_and_reaches_the_provider(
    chromium: Any, site: tuple[str, FlaskAuth], emu: Emulator
) -> None:
    from selenium.webdriver.common.by import By

    base, auth = site
    chromium.delete_all_cookies()
    chromium.get(f"{base}/orders")
    browser_sign_in(chromium)
    wait_for(chromium, lambda d: d.current_url == f"{base}/orders")
    assert auth.auth.application.get_accounts(username=ALICE)
    chromium.get(f"{base}/signout")
    chromium.find_element(By.ID, "out").click()
    wait_for(chromium, lambda d: "/logout" in d.current_url or d.current_url == f"{base}/")
    assert any(path.endswith("/oauth2/v2.0/logout") for _, path in emu.requests)
    chromium.get(f"{base}/")
    assert page_json(chromium) == {"user": None}
    assert auth.auth.application.get_accounts(username=ALICE) == []


def test_the_whole_visit_api_call_consent_and_sign_out(
    chromium: Any, site: tuple[str, FlaskAuth], emu: Emulator
) -> None:
    """Sign in, call a downstream API, consent to a second API on first use, sign out:
    session gone, the user's cache partition gone, the provider's sign-out reached."""
    base, auth = site

    def accounts() -> list[Any]:
        return list(auth.auth.application.get_accounts(username=ALICE))

    whole_visit(chromium, base, emu, accounts, "/signout")
