"""identitylib.web.flask with Flask's test client against the emulator (no browser)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests._servers import require_module

flask = require_module("flask")

from identitylib.emulator import (  # noqa: E402
    DEMO_API_URI,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    sign_in,
)
from identitylib.web import SignInRequired  # noqa: E402
from identitylib.web.flask import FlaskAuth  # noqa: E402

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
API_SCOPE = f"{DEMO_API_URI}/access_as_user"


def make_app(emu: Emulator) -> tuple[Any, FlaskAuth]:
    app = flask.Flask(__name__)
    app.secret_key = "test-secret-key-for-cookie-signing"
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
        return {"user": user.username if user else None, "csrf": auth.csrf_token()}

    @app.get("/orders")
    @auth.login_required
    def orders() -> Any:
        token = auth.token_for_user([API_SCOPE])
        return {"has_token": "access_token" in token}

    @app.get("/raises")
    def raises() -> Any:
        raise SignInRequired(["api://other/.default"])

    return app, auth


def follow_sign_in(client: Any, location: str) -> Any:
    """The provider's page, signed in by the scripted user, answered as form_post."""
    answer = sign_in(location, ALICE, ALICE_PASSWORD)
    assert "code" in answer, answer
    state = answer["state"]
    posted = client.post("/auth/redirect", data=answer)
    assert posted.status_code == 303
    assert urlsplit(posted.headers["Location"]).query == f"state={state}"
    return client.get(posted.headers["Location"])


def test_sign_in_returns_to_the_page_then_serves_a_token(emulator: Emulator) -> None:
    app, _ = make_app(emulator)
    client = app.test_client()
    first = client.get("/orders?id=3")
    assert first.status_code == 302
    location = first.headers["Location"]
    assert location.startswith(emulator.authority())
    assert parse_qs(urlsplit(location).query)["response_mode"] == ["form_post"]
    done = follow_sign_in(client, location)
    assert done.status_code == 303
    assert done.headers["Location"] == "/orders?id=3"
    assert client.get("/orders?id=3").get_json() == {"has_token": True}
    assert client.get("/").get_json()["user"] == ALICE
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.", cookie.value)  # no JWT in the cookie


def test_a_response_from_another_session_is_refused(emulator: Emulator) -> None:
    app, _ = make_app(emulator)
    attacker, victim = app.test_client(), app.test_client()
    location = attacker.get("/auth/login").headers["Location"]
    answer = sign_in(location, ALICE, ALICE_PASSWORD)
    posted = victim.post("/auth/redirect", data=answer)
    done = victim.get(posted.headers["Location"])
    assert done.status_code == 400
    assert victim.get("/").get_json()["user"] is None


def test_sign_out_needs_the_csrf_token_and_reaches_the_provider(emulator: Emulator) -> None:
    app, auth = make_app(emulator)
    client = app.test_client()
    follow_sign_in(client, client.get("/auth/login").headers["Location"])
    csrf = client.get("/").get_json()["csrf"]
    assert client.post("/auth/logout", data={"csrf_token": "wrong"}).status_code == 400
    assert client.get("/").get_json()["user"] == ALICE
    out = client.post("/auth/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    query = parse_qs(urlsplit(out.headers["Location"]).query)
    assert out.headers["Location"].startswith(emulator.authority())
    assert query["post_logout_redirect_uri"] == ["http://localhost/"]
    assert client.get("/").get_json()["user"] is None
    assert auth.auth.application.get_accounts() == []


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil", "x"])
def test_next_never_leaves_the_app(emulator: Emulator, target: str) -> None:
    app, _ = make_app(emulator)
    client = app.test_client()
    location = client.get("/auth/login", query_string={"next": target}).headers["Location"]
    done = follow_sign_in(client, location)
    assert done.headers["Location"] == "/"


def test_sign_in_required_sends_the_user_to_consent(emulator: Emulator) -> None:
    app, _ = make_app(emulator)
    client = app.test_client()
    follow_sign_in(client, client.get("/auth/login").headers["Location"])
    again = client.get("/raises")
    assert again.status_code == 302
    scope = parse_qs(urlsplit(again.headers["Location"]).query)["scope"][0]
    assert "api://other/.default" in scope.split()


def test_forgot_password_starts_the_reset_user_flow(emulator: Emulator) -> None:
    app = flask.Flask(__name__)
    app.secret_key = "test-secret-key-for-cookie-signing"
    FlaskAuth(
        app,
        client_id=DEMO_WEB_ID,
        client_credential=DEMO_WEB_SECRET,
        authority=emulator.authority(),
        user_flows={"reset_password": emulator.authority()},
    )
    client = app.test_client()
    location = client.get("/auth/login").headers["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    forgot = {
        "state": state,
        "error": "access_denied",
        "error_description": "AADB2C90118: The user has forgotten their password.",
    }
    kept = client.post("/auth/redirect", data=forgot)
    again = client.get(kept.headers["Location"])
    assert again.status_code == 302  # not an error page: off to the reset user flow
    reset_state = parse_qs(urlsplit(again.headers["Location"]).query)["state"][0]
    assert reset_state != state
    answer = sign_in(again.headers["Location"], ALICE, ALICE_PASSWORD)
    done = client.get(client.post("/auth/redirect", data=answer).headers["Location"])
    assert done.status_code == 303


def test_the_session_cookie_is_secure_outside_loopback(emulator: Emulator) -> None:
    app, _ = make_app(emulator)
    local = app.test_client().get("/auth/login")
    assert "Secure" not in local.headers["Set-Cookie"]  # plain http on loopback
    remote = app.test_client().get("/auth/login", base_url="https://app.example")
    cookie = remote.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
