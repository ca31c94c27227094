"""User flows end to end against the emulator over real HTTP: device code, password,
silent (cache, refresh, other resource), FOCI, revoked refresh tokens, sign-out, and the
one-call pattern. Every wait is bounded: polling stops after DEADLINE seconds at most."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import jwt
import pytest
import requests

import identitylib
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DESKTOP_ID,
    DEMO_TENANT_ID,
    Emulator,
    EmulatorConfig,
)

from ._browser import approve_device_code, forms_in

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
BOB = ("bob@contoso.onmicrosoft.com", "bob-password")
GRAPH = ["User.Read"]
API = [f"{DEMO_API_URI}/access_as_user"]
#: No test waits longer than this for a device code sign-in.
DEADLINE = 30.0


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig.default()
    config.device_code_interval = 1
    config.device_code_lifetime = 60  # bounds polling even without an exit_condition
    with Emulator(config) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.faults.reset()
    emu.reset_requests()


def make_app(
    emu: Emulator, client_id: str = DEMO_CLI_ID, **kwargs: Any
) -> identitylib.PublicClientApplication:
    kwargs.setdefault("token_cache", identitylib.SerializableTokenCache())
    return identitylib.PublicClientApplication(client_id, authority=emu.authority(), **kwargs)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


def bounded() -> Callable[[dict[str, Any]], bool]:
    """An exit_condition that gives up after DEADLINE seconds."""
    give_up = time.monotonic() + DEADLINE
    return lambda flow: time.monotonic() > give_up


class Approver:
    """Approves (or declines) a device code from another thread, like a user on a phone."""

    def __init__(self, user: tuple[str, str] = ALICE, decline: bool = False) -> None:
        self.user = user
        self.decline = decline
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def __call__(self, flow: dict[str, Any]) -> None:
        self.thread = threading.Thread(target=self._run, args=(flow,), daemon=True)
        self.thread.start()

    def _run(self, flow: dict[str, Any]) -> None:
        try:
            time.sleep(0.3)  # the app is polling by now
            with requests.Session() as session:
                if self.decline:
                    page = session.get(flow["verification_uri"], timeout=10)
                    form = next(f for f in forms_in(page.text, page.url) if "user_code" in f.fields)
                    form.fields.update(user_code=flow["user_code"], action="decline")
                    answer = session.post(form.action, data=form.fields, timeout=10)
                else:
                    answer = approve_device_code(
                        session, flow["verification_uri"], flow["user_code"], *self.user
                    )
                answer.raise_for_status()
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(timeout=DEADLINE)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def device_sign_in(
    app: identitylib.PublicClientApplication, approver: Approver | None = None
) -> dict[str, Any]:
    approver = approver or Approver()
    flow = app.initiate_device_flow(GRAPH)
    assert "user_code" in flow, flow
    assert flow["interval"] == 1
    assert flow["user_code"] in flow["message"]
    approver(flow)
    result = app.acquire_token_by_device_flow(flow, exit_condition=bounded())
    approver.join()
    return result


def password_sign_in(
    app: identitylib.PublicClientApplication, user: tuple[str, str] = BOB
) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return app.acquire_token_by_username_password(*user, GRAPH)


def check_silent_after_sign_in(emu: Emulator, app: identitylib.PublicClientApplication) -> None:
    """Cache hit, then force_refresh through the RT, then another resource through the RT."""
    (account,) = app.get_accounts()
    posts = token_posts(emu)
    hit = app.acquire_token_silent(GRAPH, account)
    assert hit is not None
    assert hit["token_source"] == "cache"
    assert token_posts(emu) == posts

    (rt_before,) = app.token_cache.search("RefreshToken")
    refreshed = app.acquire_token_silent(GRAPH, account, force_refresh=True)
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider", refreshed
    assert refreshed["access_token"] != hit["access_token"]
    (rt_after,) = app.token_cache.search("RefreshToken")
    assert rt_after["secret"] != rt_before["secret"]  # rotated in place

    api = app.acquire_token_silent(API, account)
    assert api is not None
    assert api["token_source"] == "identity_provider", api
    assert claims_of(api["access_token"])["aud"] == DEMO_API_ID
    assert app.acquire_token_silent(API, account)["token_source"] == "cache"
    assert len(list(app.token_cache.search("RefreshToken"))) == 1


def test_device_code_then_silent(emu: Emulator) -> None:
    app = make_app(emu)
    result = device_sign_in(app)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE[0]
    (account,) = app.get_accounts()
    assert account["account_source"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert account["realm"] == DEMO_TENANT_ID
    check_silent_after_sign_in(emu, app)


def test_device_code_declined(emu: Emulator) -> None:
    app = make_app(emu)
    result = device_sign_in(app, Approver(decline=True))
    assert result["error"] == "authorization_declined"
    assert app.get_accounts() == []


def test_device_code_exit_condition(emu: Emulator) -> None:
    app = make_app(emu)
    flow = app.initiate_device_flow(GRAPH)
    polls_before = token_posts(emu)
    result = app.acquire_token_by_device_flow(
        flow, exit_condition=lambda f: token_posts(emu) - polls_before >= 2
    )
    assert result["error"] == "authorization_pending"
    assert token_posts(emu) - polls_before == 2  # it stopped as soon as the condition held


def test_password_then_silent(emu: Emulator) -> None:
    app = make_app(emu)
    result = password_sign_in(app)
    assert "access_token" in result, result
    (account,) = app.get_accounts()
    assert (account["username"], account["account_source"]) == (BOB[0], "password")
    check_silent_after_sign_in(emu, app)


def test_password_wrong_is_an_error(emu: Emulator) -> None:
    app = make_app(emu)
    result = password_sign_in(app, (BOB[0], "wrong"))
    assert result["error"] == "invalid_grant"
    assert app.get_accounts() == []


def test_family_app_uses_the_family_refresh_token(emu: Emulator) -> None:
    cache = identitylib.SerializableTokenCache()
    cli = make_app(emu, token_cache=cache)
    assert "access_token" in password_sign_in(cli, ALICE)
    (family_rt,) = cache.search("RefreshToken")
    assert family_rt["family_id"] == "1"

    desktop = make_app(emu, DEMO_DESKTOP_ID, token_cache=cache)
    (account,) = desktop.get_accounts()
    result = desktop.acquire_token_silent(GRAPH, account)
    assert result is not None
    assert result["token_source"] == "identity_provider", result
    assert result["id_token_claims"]["aud"] == DEMO_DESKTOP_ID
    assert claims_of(result["access_token"])["azp"] == DEMO_DESKTOP_ID
    (rotated,) = cache.search("RefreshToken")
    assert rotated["client_id"] == DEMO_CLI_ID
    assert rotated["secret"] != family_rt["secret"]
    assert desktop.acquire_token_silent(GRAPH, account)["token_source"] == "cache"


def test_revoked_refresh_token(emu: Emulator) -> None:
    app = make_app(emu)
    assert "access_token" in password_sign_in(app)
    (account,) = app.get_accounts()
    assert emu.provider.revoke_refresh_tokens(BOB[0]) >= 1
    error = app.acquire_token_silent_with_error(GRAPH, account, force_refresh=True)
    assert error is not None
    assert error["error"] == "invalid_grant", error
    assert 50173 in error["error_codes"]
    assert app.acquire_token_silent(GRAPH, account, force_refresh=True) is None
    assert len(list(app.token_cache.search("RefreshToken"))) == 1  # kept, as msal does
    assert app.acquire_token_silent(GRAPH, account)["token_source"] == "cache"


def test_remove_account(emu: Emulator) -> None:
    app = make_app(emu)
    assert "access_token" in password_sign_in(app)
    (account,) = app.get_accounts()
    app.remove_account(account)
    assert app.get_accounts() == []
    assert app.acquire_token_silent(GRAPH, account) is None
    assert app.acquire_token_silent_with_error(GRAPH, account, force_refresh=True) is None


def test_one_call_pattern_with_device_code(emu: Emulator) -> None:
    app = make_app(emu)
    approver = Approver()
    first = app.acquire_token(GRAPH, use_device_code=True, device_code_callback=approver)
    approver.join()
    assert "access_token" in first, first
    assert first["token_source"] == "identity_provider"
    posts = token_posts(emu)
    second = app.acquire_token(GRAPH, use_device_code=True, device_code_callback=approver)
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert token_posts(emu) == posts
