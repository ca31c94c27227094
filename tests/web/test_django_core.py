"""identitylib.web.django with Django's test client against the emulator (no browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests._servers import require_module

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("django")

from django.core.cache import cache
from django.test import Client, override_settings

from identitylib.emulator import (
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    sign_in,
)
from identitylib.web.django import get_auth

from . import django_site
from .conftest import ALICE, ALICE_PASSWORD

django_site.configure()

HOST = "localhost"  # the emulator's demo web app takes http://localhost/auth/redirect


def web_settings(emulator: Emulator, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": DEMO_WEB_ID,
        "client_credential": DEMO_WEB_SECRET,
        "authority": emulator.authority(),
        "scopes": [django_site.API_SCOPE],
        **extra,
    }


@pytest.fixture
def site(emulator: Emulator) -> Iterator[Emulator]:
    """The test site signing in at the emulator, with an empty session store."""
    cache.clear()
    with override_settings(IDENTITYLIB_WEB=web_settings(emulator)):
        yield emulator


def browser(**options: Any) -> Client:
    return Client(HTTP_HOST=HOST, **options)


def follow_sign_in(client: Client, location: str) -> Any:
    """The provider's page, signed in by the scripted user, answered as form_post."""
    answer = sign_in(location, ALICE, ALICE_PASSWORD)
    assert "code" in answer, answer
    posted = client.post("/auth/redirect", data=answer)
    assert posted.status_code == 303
    assert posted["Location"] == f"/auth/redirect?state={answer['state']}"
    return client.get(posted["Location"])


def session_key(client: Client) -> str:
    return str(client.cookies["sessionid"].value)


def test_sign_in_returns_to_the_page_then_serves_a_token(site: Emulator) -> None:
    client = browser()
    first = client.get("/orders?id=3")
    assert first.status_code == 302
    location = first["Location"]
    assert location.startswith(site.authority())
    query = parse_qs(urlsplit(location).query)
    assert query["response_mode"] == ["form_post"]
    assert query["redirect_uri"] == ["http://localhost/auth/redirect"]
    done = follow_sign_in(client, location)
    assert done.status_code == 303
    assert done["Location"] == "/orders?id=3"
    assert client.get("/orders?id=3").json() == {"page": "orders", "user": ALICE, "token": True}
    assert client.get("/").json()["user"] == ALICE


def test_sign_in_gives_a_new_session_key(site: Emulator) -> None:
    from django.contrib.sessions.backends.cache import SessionStore

    client = browser()
    location = client.get("/auth/login")["Location"]
    before = session_key(client)
    follow_sign_in(client, location)
    after = session_key(client)
    assert after != before
    assert not SessionStore().exists(before)  # the pre-sign-in key is gone, not kept
    stored = SessionStore(session_key=after).load()
    assert stored["identitylib.user"]["claims"]["preferred_username"] == ALICE
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.", repr(stored))  # no JWT in the session


def test_sign_in_rotates_the_csrf_token(site: Emulator) -> None:
    client = browser()
    client.get("/")
    before = client.cookies["csrftoken"].value
    follow_sign_in(client, client.get("/auth/login")["Location"])
    assert client.cookies["csrftoken"].value not in ("", before)


def test_a_response_from_another_session_is_refused(site: Emulator) -> None:
    attacker, victim = browser(), browser()
    location = attacker.get("/auth/login")["Location"]
    answer = sign_in(location, ALICE, ALICE_PASSWORD)
    posted = victim.post("/auth/redirect", data=answer)
    done = victim.get(posted["Location"])
    assert done.status_code == 400
    assert victim.get("/").json()["user"] is None


def test_a_response_is_redeemed_once(site: Emulator) -> None:
    client = browser()
    answer = sign_in(client.get("/auth/login")["Location"], ALICE, ALICE_PASSWORD)
    location = client.post("/auth/redirect", data=answer)["Location"]
    assert client.get(location).status_code == 303
    assert client.get(location).status_code == 400


def test_the_form_post_needs_no_csrf_token_and_the_rest_keeps_it(site: Emulator) -> None:
    client = browser(enforce_csrf_checks=True)
    answer = sign_in(client.get("/auth/login")["Location"], ALICE, ALICE_PASSWORD)
    assert client.post("/auth/redirect", data=answer).status_code == 303
    assert client.post("/auth/logout").status_code == 403


def test_sign_out_needs_the_csrf_token_and_reaches_the_provider(site: Emulator) -> None:
    client = browser(enforce_csrf_checks=True)
    follow_sign_in(client, client.get("/auth/login")["Location"])
    csrf = client.get("/").json()["csrf"]
    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 403
    assert client.post("/auth/logout", {"csrfmiddlewaretoken": "x" * 64}).status_code == 403
    assert client.get("/").json()["user"] == ALICE
    signed_in_key = session_key(client)
    out = client.post("/auth/logout", {"csrfmiddlewaretoken": csrf})
    assert out.status_code == 303
    assert out["Location"].startswith(site.authority())
    query = parse_qs(urlsplit(out["Location"]).query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/"]
    assert urlsplit(out["Location"]).path.endswith("/oauth2/v2.0/logout")
    assert client.get("/").json()["user"] is None
    from django.contrib.sessions.backends.cache import SessionStore

    assert not SessionStore().exists(signed_in_key)
    assert get_auth().auth.application.get_accounts() == []


def test_sign_out_keeps_its_csrf_check_without_the_csrf_middleware(site: Emulator) -> None:
    without = [m for m in django_site.MIDDLEWARE if "csrf" not in m]
    with override_settings(MIDDLEWARE=without):
        client = browser(enforce_csrf_checks=True)
        follow_sign_in(client, client.get("/auth/login")["Location"])
        assert client.post("/auth/logout").status_code == 403
        assert client.get("/").json()["user"] == ALICE


def test_sign_out_clears_the_session_when_the_provider_is_unreachable(site: Emulator) -> None:
    from identitylib._authority._registry import REGISTRY

    client = browser()
    follow_sign_in(client, client.get("/auth/login")["Location"])
    csrf = client.get("/").json()["csrf"]
    # A new process, in effect: the end-session endpoint must be discovered, and cannot be.
    with override_settings(IDENTITYLIB_WEB=web_settings(site)):
        REGISTRY.clear()
        site.faults.inject(503, count=10, path_contains="openid-configuration")
        out = client.post("/auth/logout", {"csrfmiddlewaretoken": csrf})
        site.faults.reset()
        # Signed out of the site, and home instead of the provider's sign-out page.
        assert out.status_code == 303
        assert out["Location"] == "http://localhost/"
        assert client.get("/").json()["user"] is None


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/\\evil", "x", "/\t/evil.example"]
)
def test_next_never_leaves_the_site(site: Emulator, target: str) -> None:
    client = browser()
    location = client.get("/auth/login", {"next": target})["Location"]
    done = follow_sign_in(client, location)
    assert done["Location"] == "/"


def test_next_within_the_site_is_kept(site: Emulator) -> None:
    client = browser()
    location = client.get("/auth/login", {"next": "/orders?id=5"})["Location"]
    assert follow_sign_in(client, location)["Location"] == "/orders?id=5"


def test_sign_in_required_sends_the_user_to_consent(site: Emulator) -> None:
    client = browser()
    follow_sign_in(client, client.get("/auth/login")["Location"])
    again = client.get("/raises?x=1")
    assert again.status_code == 302
    scope = parse_qs(urlsplit(again["Location"]).query)["scope"][0]
    assert django_site.OTHER_SCOPE in scope.split()
    answer = sign_in(again["Location"], ALICE, ALICE_PASSWORD)
    back = client.get(client.post("/auth/redirect", data=answer)["Location"])
    assert back["Location"] == "/raises?x=1"


def test_a_signed_in_user_whose_tokens_are_gone_signs_in_again(site: Emulator) -> None:
    client = browser()
    follow_sign_in(client, client.get("/auth/login")["Location"])
    application = get_auth().auth.application
    for account in application.get_accounts():
        application.remove_account(account)
    again = client.get("/orders")
    assert again.status_code == 302
    assert again["Location"].startswith(site.authority())


def test_provider_errors_are_shown_escaped(site: Emulator) -> None:
    client = browser()
    location = client.get("/auth/login")["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    posted = client.post("/auth/redirect", {"state": state, "error": "<b>access_denied</b>"})
    failed = client.get(posted["Location"])
    assert failed.status_code == 400
    assert b"&lt;b&gt;access_denied&lt;/b&gt;" in failed.content
    assert client.post("/auth/redirect", {"code": "c"}).status_code == 400  # no state


# --- B2C user flows ------------------------------------------------------------------


def test_user_flows_are_routed_by_name(emulator: Emulator) -> None:
    cache.clear()
    flows = {"edit_profile": emulator.authority()}  # the emulator stands in for B2C
    with override_settings(IDENTITYLIB_WEB=web_settings(emulator, user_flows=flows)):
        client = browser()
        assert client.get("/auth/flow/reset_password").status_code == 404
        started = client.get("/auth/flow/edit_profile", {"next": "/orders"})
        assert started.status_code == 302
        assert started["Location"].startswith(emulator.authority())
        assert follow_sign_in(client, started["Location"])["Location"] == "/orders"
        assert client.get("/").json()["user"] == ALICE


def test_forgot_password_starts_the_reset_user_flow(emulator: Emulator) -> None:
    cache.clear()
    flows = {"reset_password": emulator.authority()}  # the emulator stands in for B2C
    with override_settings(IDENTITYLIB_WEB=web_settings(emulator, user_flows=flows)):
        client = browser()
        location = client.get("/auth/login")["Location"]
        state = parse_qs(urlsplit(location).query)["state"][0]
        forgot = {
            "state": state,
            "error": "access_denied",
            "error_description": "AADB2C90118: The user has forgotten their password.",
        }
        again = client.get(client.post("/auth/redirect", data=forgot)["Location"])
        assert again.status_code == 302  # off to the reset user flow, not an error page
        assert parse_qs(urlsplit(again["Location"]).query)["state"][0] != state
        assert follow_sign_in(client, again["Location"]).status_code == 303


# --- the cookie policy -----------------------------------------------------------------


def test_session_cookie_is_httponly_lax_and_secure_outside_loopback(site: Emulator) -> None:
    local = browser().get("/auth/login").cookies["sessionid"]
    assert local["httponly"] is True
    assert local["samesite"] == "Lax"
    assert not local["secure"]  # plain http on loopback: a Secure cookie would be dropped
    remote = Client(HTTP_HOST="app.example").get("/auth/login")
    assert remote.cookies["sessionid"]["secure"] is True


@override_settings(SESSION_COOKIE_HTTPONLY=False, SESSION_COOKIE_SAMESITE="None")
def test_cookie_policy_overrides_weaker_settings(site: Emulator) -> None:
    cookie = Client(HTTP_HOST="app.example").get("/auth/login").cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True


def test_csrf_cookie_is_secure_outside_loopback(site: Emulator) -> None:
    remote = Client(HTTP_HOST="app.example").get("/")
    assert remote.cookies["csrftoken"]["secure"] is True
    local = browser().get("/")
    assert not local.cookies["csrftoken"]["secure"]


def test_the_code_stays_out_of_error_reports(site: Emulator) -> None:
    from django.views.debug import SafeExceptionReporterFilter

    client = browser()
    answer = sign_in(client.get("/auth/login")["Location"], ALICE, ALICE_PASSWORD)
    posted = client.post("/auth/redirect", data=answer)
    shown = SafeExceptionReporterFilter().get_post_parameters(posted.wsgi_request)
    assert shown["state"] != answer["state"]
    assert shown["code"] != answer["code"]
