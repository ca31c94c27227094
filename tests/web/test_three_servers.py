"""A chain of three real servers on loopback, against the emulator:

    browser -> web app (FlaskAuth) -> API A (FlaskApiGuard, on-behalf-of) -> API B

The user signs in to the web app, which calls API A with the user's token; API A checks
it, exchanges it on behalf of the user for a token to API B, and calls API B, which checks
that one. Every hop validates a real token signed by the emulator. A second request is
served from the caches of both the web app and API A: no new token request anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests

from tests._servers import require_module

flask = require_module("flask")

from identitylib.emulator import (  # noqa: E402
    DEMO_API2_ID,
    DEMO_API2_URI,
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    sign_in,
)
from identitylib.web.flask import FlaskApiGuard, FlaskAuth  # noqa: E402

from .conftest import ALICE, ALICE_PASSWORD, serve_wsgi  # noqa: E402

API_A_SCOPE = f"{DEMO_API_URI}/access_as_user"
API_B_SCOPE = f"{DEMO_API2_URI}/read"


def api_b(emu: Emulator) -> Any:
    app = flask.Flask("api_b")
    guard = FlaskApiGuard(app, authority=emu.authority(), audience=[DEMO_API2_ID, DEMO_API2_URI])

    @app.get("/stock")
    @guard.require(scopes=["read"])
    def stock() -> Any:
        claims = guard.caller.claims
        return {"api": "B", "user": claims.get("preferred_username"), "azp": claims.get("azp")}

    return app


def api_a(emu: Emulator, api_b_url: str) -> Any:
    app = flask.Flask("api_a")
    guard = FlaskApiGuard(
        app,
        authority=emu.authority(),
        audience=[DEMO_API_ID, DEMO_API_URI],
        client_id=DEMO_API_ID,
        client_credential=DEMO_API_SECRET,
    )

    @app.get("/orders")
    @guard.require(scopes=["access_as_user"])
    def orders() -> Any:
        downstream = guard.acquire_token_on_behalf_of([API_B_SCOPE])
        answer = requests.get(
            f"{api_b_url}/stock",
            headers={"Authorization": f"Bearer {downstream['access_token']}"},
            timeout=10,
        )
        return {
            "api": "A",
            "user": guard.caller.claims.get("preferred_username"),
            "b": answer.json(),
            "b_status": answer.status_code,
            "obo_source": downstream.get("token_source"),
        }

    return app


def web_app(emu: Emulator, api_a_url: str) -> Any:
    app = flask.Flask("web_app")
    app.secret_key = "three-servers-test-key"
    auth = FlaskAuth(
        app,
        client_id=DEMO_WEB_ID,
        client_credential=DEMO_WEB_SECRET,
        authority=emu.authority(),
        scopes=[API_A_SCOPE],
    )

    @app.get("/dashboard")
    @auth.login_required
    def dashboard() -> Any:
        token = auth.token_for_user([API_A_SCOPE])
        answer = requests.get(
            f"{api_a_url}/orders",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=20,
        )
        return {"a": answer.json(), "a_status": answer.status_code,
                "web_source": token.get("token_source")}  # fmt: skip

    return app


@pytest.fixture
def chain(emu: Emulator) -> Iterator[str]:
    # API A's users consented to API B (in Entra: admin consent, or the API's
    # knownClientApplications making it part of the web app's consent).
    emu.provider.grant_consent(ALICE, DEMO_API_ID, [API_B_SCOPE])
    with ExitStack() as stack:
        b = stack.enter_context(serve_wsgi(api_b(emu)))
        a = stack.enter_context(serve_wsgi(api_a(emu, b)))
        yield stack.enter_context(serve_wsgi(web_app(emu, a)))


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


def test_web_app_to_api_a_to_api_b_on_behalf_of_the_user(chain: str, emu: Emulator) -> None:
    with requests.Session() as browser:
        browser.trust_env = False
        started = browser.get(f"{chain}/dashboard", allow_redirects=False, timeout=10)
        assert started.status_code == 302
        fields = sign_in(started.headers["Location"], ALICE, ALICE_PASSWORD)
        page = browser.post(f"{chain}/auth/redirect", data=fields, timeout=30)
        assert page.url == f"{chain}/dashboard"
        first = page.json()
        assert first["a_status"] == 200, first
        assert first["a"]["user"] == ALICE
        assert first["a"]["b_status"] == 200, first
        assert first["a"]["b"] == {"api": "B", "user": ALICE, "azp": DEMO_API_ID}
        assert first["a"]["obo_source"] == "identity_provider"

        posts = token_posts(emu)
        again = browser.get(f"{chain}/dashboard", timeout=30).json()
        assert again["web_source"] == "cache"
        assert again["a"]["obo_source"] == "cache"
        assert again["a"]["b"]["user"] == ALICE
        assert token_posts(emu) == posts  # every hop served from its cache
