"""The end-session endpoint: redirect to a registered post-logout URI, or a signed-out page."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from identitylib.emulator import Emulator, Logout
from identitylib.emulator._config import DEMO_CLI_ID, DEMO_TENANT_DOMAIN, DEMO_WEB_ID

from .provider_support import (
    BASE,
    TENANT,
    World,
    authorize_params,
    body,
    get_code,
    location_params,
    make_world,
    redeem,
)

WEB_HOME = "http://localhost:5000/"


@pytest.fixture
def world() -> World:
    return make_world()


def test_registered_post_logout_uri_gets_the_browser_back_with_state(world: World) -> None:
    params = {"post_logout_redirect_uri": WEB_HOME, "client_id": DEMO_WEB_ID, "state": "s-9"}
    reply = world.provider.end_session(BASE, TENANT, params)
    assert reply.status == 302
    assert reply.location == WEB_HOME + "?state=s-9"
    assert location_params(reply) == {"state": "s-9"}
    assert world.provider.logouts() == [
        Logout(
            tenant=TENANT,
            client_id=DEMO_WEB_ID,
            post_logout_redirect_uri=WEB_HOME,
            logout_hint=None,
            state="s-9",
            id_token_hint=False,
            redirected_to=WEB_HOME,
        )
    ]


def test_loopback_post_logout_uri_matches_on_any_port_without_state(world: World) -> None:
    uri = "http://localhost:61234/"
    reply = world.provider.end_session(
        BASE, DEMO_TENANT_DOMAIN, {"post_logout_redirect_uri": uri, "client_id": DEMO_WEB_ID}
    )
    assert reply.location == uri
    assert world.provider.logouts()[0].tenant == DEMO_TENANT_DOMAIN


@pytest.mark.parametrize(
    "params",
    [
        {},  # nothing: a plain sign-out
        {"post_logout_redirect_uri": "https://evil.example/"},  # no app named
        {"post_logout_redirect_uri": "https://evil.example/", "client_id": DEMO_WEB_ID},
        {"post_logout_redirect_uri": "http://localhost:5000/", "client_id": "nope"},
        {"post_logout_redirect_uri": "http://127.0.0.1:5000/", "client_id": DEMO_CLI_ID},
    ],
)
def test_absent_or_unregistered_uri_shows_the_signed_out_page(
    world: World, params: dict[str, str]
) -> None:
    reply = world.provider.end_session(BASE, TENANT, params)
    assert reply.status == 200
    assert reply.location is None
    assert reply.html
    assert "You signed out of your account" in reply.html
    assert "evil.example" not in reply.html
    assert world.provider.logouts()[0].redirected_to is None


def test_id_token_hint_names_the_app_and_is_not_kept(world: World) -> None:
    tokens = body(redeem(world, get_code(world, authorize_params())))
    hint = tokens["id_token"]
    params = {"post_logout_redirect_uri": WEB_HOME, "id_token_hint": hint, "logout_hint": "h"}
    reply = world.provider.end_session(BASE, TENANT, params)
    assert reply.location == WEB_HOME
    logout = world.provider.logouts()[0]
    assert logout.client_id == DEMO_WEB_ID
    assert logout.id_token_hint is True
    assert logout.logout_hint == "h"
    assert hint not in repr(world.provider.logouts())


def test_a_forged_id_token_hint_names_no_app(world: World) -> None:
    params = {"post_logout_redirect_uri": WEB_HOME, "id_token_hint": "a.b.c"}
    reply = world.provider.end_session(BASE, TENANT, params)
    assert reply.status == 200
    assert world.provider.logouts()[0].client_id is None


def test_unknown_tenant_is_an_error_page(world: World) -> None:
    reply = world.provider.end_session(BASE, "nope.example", {"client_id": DEMO_WEB_ID})
    assert reply.status == 400
    assert reply.html
    assert "AADSTS90002" in reply.html
    assert world.provider.logouts() == []


def test_logouts_are_reset(world: World) -> None:
    world.provider.end_session(BASE, TENANT, {})
    world.provider.reset_logouts()
    assert world.provider.logouts() == []


def _get(emu: Emulator, path: str, **kw: Any) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.request(
            kw.pop("method", "GET"), emu.base_url + path, allow_redirects=False, timeout=10, **kw
        )


def test_served_by_get_and_post_and_named_by_discovery(emulator: Emulator) -> None:
    config = _get(emulator, f"/{TENANT}/v2.0/.well-known/openid-configuration").json()
    endpoint = config["end_session_endpoint"]
    assert endpoint == f"{emulator.base_url}/{TENANT}/oauth2/v2.0/logout"
    params = {"post_logout_redirect_uri": WEB_HOME, "client_id": DEMO_WEB_ID, "state": "x"}
    got = _get(emulator, f"/{TENANT}/oauth2/v2.0/logout", params=params)
    assert got.status_code == 302
    assert got.headers["Location"] == WEB_HOME + "?state=x"
    posted = _get(emulator, f"/{TENANT}/oauth2/v2.0/logout", method="POST", data=params)
    assert posted.status_code == 302
    page = _get(emulator, f"/{TENANT}/oauth2/v2.0/logout")
    assert page.status_code == 200
    assert "You signed out" in page.text
    assert [x.redirected_to for x in emulator.logouts] == [WEB_HOME, WEB_HOME, None]
    assert _get(emulator, f"/{TENANT}/oauth2/v2.0/logout", method="PUT").status_code == 501
    emulator.reset_logouts()
    assert emulator.logouts == []


def test_the_emulator_fixture_starts_with_no_logouts(emulator: Emulator) -> None:
    _get(emulator, f"/{TENANT}/oauth2/v2.0/logout")
    assert len(emulator.logouts) == 1


def test_the_emulator_fixture_cleared_the_last_tests_logouts(emulator: Emulator) -> None:
    assert emulator.logouts == []
