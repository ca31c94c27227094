"""A real browser (headless Chromium) signs in to a running Django site, against the
emulator.

The site runs on ``localhost``, the emulator on ``127.0.0.1``: two sites, so the
provider's ``form_post`` reaches the site as a cross-site POST without the
``SameSite=Lax`` session cookie, exactly as with a real provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests._servers import require_module

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("django")

from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from identitylib.emulator import DEMO_WEB_ID, DEMO_WEB_SECRET, Emulator
from identitylib.web.django import DjangoAuth, get_auth

from . import django_site
from .conftest import ALICE, browser_sign_in, page_json, serve_wsgi, wait_for, whole_visit

django_site.configure()


@pytest.fixture(scope="module")
def site(emu: Emulator) -> Iterator[tuple[str, DjangoAuth]]:
    options = {
        "client_id": DEMO_WEB_ID,
        "client_credential": DEMO_WEB_SECRET,
        "authority": emu.authority(),
        "scopes": [django_site.API_SCOPE],
    }
    cache.clear()
    with (
        override_settings(IDENTITYLIB_WEB=options, DEMO_API_URL=emu.demo_api_url),
        serve_wsgi(WSGIHandler()) as base,
    ):
        yield base, get_auth()


def session_cookie(driver: Any) -> Any:
    """The site's session cookie, whichever page the browser shows."""
    cookies = driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    return next(c for c in cookies if c["name"] == "sessionid" and c["domain"] == "localhost")


def sign_in_at(driver: Any, base: str, path: str, emu: Emulator) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/auth/login?next={path}")
    wait_for(driver, lambda d: d.current_url.startswith(emu.base_url))
    browser_sign_in(driver)
    wait_for(driver, lambda d: d.current_url == f"{base}{path}")


def test_sign_in_returns_to_the_page_and_gets_a_token(
    chromium: Any, site: tuple[str, DjangoAuth], emu: Emulator
) -> None:
    base, _ = site
    chromium.delete_all_cookies()
    chromium.get(f"{base}/orders?id=7")
    wait_for(chromium, lambda d: d.current_url.startswith(emu.base_url))
    started = session_cookie(chromium)["value"]  # the session of the pending sign-in
    browser_sign_in(chromium)
    wait_for(chromium, lambda d: d.current_url == f"{base}/orders?id=7")
    assert page_json(chromium) == {"page": "orders", "user": ALICE, "token": True}
    cookie = session_cookie(chromium)
    assert cookie["value"] != started  # a new session key at sign-in
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert "eyJ" not in cookie["value"]  # no token in the cookie
    assert all("eyJ" not in c["value"] for c in chromium.get_cookies())


def test_sign_out_clears_the_session_and_reaches_the_provider(
    chromium: Any, site: tuple[str, DjangoAuth], emu: Emulator
) -> None:
    from selenium.webdriver.common.by import By

    base, auth = site
    sign_in_at(chromium, base, "/orders", emu)
    assert auth.auth.application.get_accounts(username=ALICE)
    chromium.get(f"{base}/signout")
    chromium.find_element(By.ID, "out").click()
    wait_for(chromium, lambda d: "/logout" in d.current_url or d.current_url == f"{base}/")
    assert any(path.endswith("/oauth2/v2.0/logout") for _, path in emu.requests)
    chromium.get(f"{base}/")
    assert page_json(chromium)["user"] is None
    assert auth.auth.application.get_accounts(username=ALICE) == []


def test_a_forged_sign_out_is_refused(
    chromium: Any, site: tuple[str, DjangoAuth], emu: Emulator
) -> None:
    base, auth = site
    sign_in_at(chromium, base, "/", emu)
    # A form posted without the CSRF token, from a page that has the session cookie.
    chromium.execute_script(
        "const f = document.createElement('form'); f.method = 'post';"
        f"f.action = '{base}/auth/logout'; document.body.appendChild(f); f.submit();"
    )
    wait_for(chromium, lambda d: "403" in d.title or "Forbidden" in d.page_source)
    chromium.get(f"{base}/")
    assert page_json(chromium)["user"] == ALICE
    assert auth.auth.application.get_accounts(username=ALICE)


def test_the_whole_visit_api_call_consent_and_sign_out(
    chromium: Any, site: tuple[str, DjangoAuth], emu: Emulator
) -> None:
    """Sign in, call a downstream API, consent to a second API on first use, sign out:
    session gone, the user's cache partition gone, the provider's sign-out reached."""
    base, auth = site

    def accounts() -> list[Any]:
        return list(auth.auth.application.get_accounts(username=ALICE))

    whole_visit(chromium, base, emu, accounts, "/signout")
