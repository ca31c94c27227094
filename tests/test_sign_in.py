"""PublicClientApplication.acquire_token: silent first, then interactive or device code."""

from __future__ import annotations

import sys
import time
import webbrowser
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from identitylib._application import _sign_in
from identitylib._application._calls import PublicCalls
from identitylib._interactive import _browser

from .conftest import add_discovery
from .test_device_flow import SERVER_FLOW
from .test_silent_support import (
    DEVICE_ENDPOINT,
    TOKEN_ENDPOINT,
    USERNAME,
    expire_access_tokens,
    oauth_error,
    public_app,
    ropc_sign_in,
    user_token,
)


class Interactive:
    """Stands in for the interactive sign-in's steps (tested elsewhere): no browser step,
    just the result."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, scopes: list[str], **kwargs: Any) -> Iterator[Any]:
        self.calls.append((scopes, kwargs))
        return {"access_token": "interactive-at", "token_source": "identity_provider"}
        yield  # a generator of steps, as the builder's


@pytest.fixture
def interactive(monkeypatch: pytest.MonkeyPatch) -> Interactive:
    fake = Interactive()
    monkeypatch.setattr(
        PublicCalls,
        "acquire_token_interactive",
        lambda self, scopes, **kwargs: fake(scopes, **kwargs),
    )
    return fake


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether a browser is available (default: yes); set ``browser[0]``."""
    state = [True]
    monkeypatch.setattr(_sign_in, "browser_available", lambda environ=None: state[0])
    return state


def test_silent_hit_needs_no_sign_in(
    http: responses.RequestsMock, interactive: Interactive, browser: list[bool]
) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token())
    result = app.acquire_token(["User.Read"])
    assert (result["access_token"], result["token_source"]) == ("at-1", "cache")
    assert interactive.calls == []


def test_silent_refresh_is_used(
    http: responses.RequestsMock, interactive: Interactive, browser: list[bool]
) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token())
    expire_access_tokens(app.token_cache)
    http.upsert(responses.POST, TOKEN_ENDPOINT, json=user_token("at-2", "rt-2"))
    assert app.acquire_token(["User.Read"], username="ALICE@contoso.com")["access_token"] == "at-2"
    assert interactive.calls == []


def test_no_account_goes_interactive_with_the_login_hint(
    interactive: Interactive, browser: list[bool]
) -> None:
    result = public_app().acquire_token(["User.Read"], username=USERNAME, prompt="select_account")
    assert result["access_token"] == "interactive-at"
    assert interactive.calls == [
        (["User.Read"], {"prompt": "select_account", "login_hint": USERNAME})
    ]


def test_refresh_needing_interaction_goes_interactive(
    http: responses.RequestsMock, interactive: Interactive, browser: list[bool]
) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token())
    expire_access_tokens(app.token_cache)
    http.upsert(
        responses.POST,
        TOKEN_ENDPOINT,
        status=400,
        json=oauth_error("invalid_grant", suberror="basic_action"),
    )
    assert app.acquire_token(["User.Read"])["access_token"] == "interactive-at"
    assert interactive.calls[0][1]["login_hint"] == USERNAME


def test_other_errors_are_returned(
    http: responses.RequestsMock, interactive: Interactive, browser: list[bool]
) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token())
    expire_access_tokens(app.token_cache)
    http.upsert(
        responses.POST, TOKEN_ENDPOINT, status=400, json=oauth_error("temporarily_unavailable")
    )
    assert app.acquire_token(["User.Read"])["error"] == "temporarily_unavailable"
    assert interactive.calls == []


def test_several_accounts_and_no_choice_goes_interactive(
    http: responses.RequestsMock, interactive: Interactive, browser: list[bool]
) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token())
    ropc_sign_in(http, app, user_token(uid="other-uid", username="bob@contoso.com"), "bob")
    app.acquire_token(["User.Read"])
    assert interactive.calls[0][1]["login_hint"] is None
    assert app.acquire_token(["User.Read"], account=app.get_accounts()[1])["token_source"] == (
        "cache"
    )


def _device_endpoints(http: responses.RequestsMock) -> None:
    add_discovery(http)
    http.post(DEVICE_ENDPOINT, json=SERVER_FLOW)
    http.post(TOKEN_ENDPOINT, json=user_token("device-at"))


def test_no_browser_uses_the_device_code(
    http: responses.RequestsMock, interactive: Interactive, browser: list[bool]
) -> None:
    browser[0] = False
    _device_endpoints(http)
    shown: list[dict[str, Any]] = []
    result = public_app().acquire_token(["User.Read"], device_code_callback=shown.append)
    assert result["access_token"] == "device-at"
    assert [flow["user_code"] for flow in shown] == [SERVER_FLOW["user_code"]]
    assert interactive.calls == []


def test_device_code_on_request_and_default_callback(
    http: responses.RequestsMock,
    interactive: Interactive,
    browser: list[bool],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _device_endpoints(http)
    result = public_app().acquire_token(["User.Read"], use_device_code=True)
    assert result["access_token"] == "device-at"
    assert SERVER_FLOW["message"] in capsys.readouterr().err


def test_device_code_start_failure_is_returned(
    http: responses.RequestsMock, interactive: Interactive, browser: list[bool]
) -> None:
    add_discovery(http)
    http.post(DEVICE_ENDPOINT, status=400, json=oauth_error("invalid_client"))
    result = public_app().acquire_token(["User.Read"], use_device_code=True)
    assert result["error"] == "invalid_client"


def test_use_device_code_false_forces_interactive(
    interactive: Interactive, browser: list[bool]
) -> None:
    browser[0] = False
    public_app().acquire_token(["User.Read"], use_device_code=False)
    assert len(interactive.calls) == 1


# ---------------------------------------------------------------- browser detection


class _Found:
    pass


def test_browser_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.setattr(webbrowser, "get", lambda using=None: _Found())
    monkeypatch.setattr(_browser, "is_wsl", lambda: False)
    assert not _sign_in.browser_available({"SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"})
    monkeypatch.setattr(sys, "platform", "linux")
    assert not _sign_in.browser_available({})
    assert _sign_in.browser_available({"DISPLAY": ":0"})
    assert _sign_in.browser_available({"WAYLAND_DISPLAY": "wayland-0"})
    monkeypatch.setattr(_browser, "is_wsl", lambda: True)
    assert _sign_in.browser_available({})
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _sign_in.browser_available({})

    def no_browser(using: Any = None) -> Any:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", no_browser)
    assert not _sign_in.browser_available({"DISPLAY": ":0"})


def test_print_device_message(capsys: pytest.CaptureFixture[str]) -> None:
    _sign_in.print_device_message({"message": "go to x", "expires_at": time.time()})
    assert capsys.readouterr().err == "go to x\n"
