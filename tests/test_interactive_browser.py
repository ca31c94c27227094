"""Deciding whether to launch a browser, launching it, and the listener's page templates."""

from __future__ import annotations

import sys
import webbrowser
from typing import Any

import pytest

from identitylib._interactive import _browser
from identitylib._interactive._templates import Pages, render


@pytest.fixture
def linux_desktop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(_browser, "is_wsl", lambda: False)


@pytest.mark.usefixtures("linux_desktop")
@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        ({"DISPLAY": ":0"}, None),
        ({"WAYLAND_DISPLAY": "wayland-0"}, None),
        ({}, "no graphical display"),
        ({"DISPLAY": ":0", "SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"}, "SSH"),
        ({"SSH_TTY": "/dev/pts/1"}, "SSH"),
        ({"BROWSER": "w3m", "SSH_CLIENT": "x"}, None),  # the user chose a browser
        ({"BROWSER": "firefox"}, None),
    ],
)
def test_why_no_browser(environ: dict[str, str], reason: Any) -> None:
    found = _browser.why_no_browser(environ)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found


def test_wsl_and_other_platforms_need_no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(_browser, "is_wsl", lambda: True)
    assert _browser.why_no_browser({}) is None
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _browser.why_no_browser({}) is None


def fake_webbrowser(monkeypatch: pytest.MonkeyPatch, outcome: Any) -> list[str]:
    opened: list[str] = []

    def open_url(url: str, new: int = 0, autoraise: bool = True) -> bool:
        opened.append(url)
        if isinstance(outcome, BaseException):
            raise outcome
        return bool(outcome)

    monkeypatch.setattr(webbrowser, "open", open_url)
    return opened


@pytest.mark.usefixtures("linux_desktop")
@pytest.mark.parametrize(
    ("outcome", "expected"),
    [(True, True), (False, False), (webbrowser.Error("none"), False), (OSError("x"), False)],
)
def test_open_browser(monkeypatch: pytest.MonkeyPatch, outcome: Any, expected: bool) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    for name in ("BROWSER", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"):
        monkeypatch.delenv(name, raising=False)
    opened = fake_webbrowser(monkeypatch, outcome)
    assert _browser.open_browser("https://idp.example/authorize") is expected
    assert opened == ["https://idp.example/authorize"]


@pytest.mark.usefixtures("linux_desktop")
def test_no_launch_over_ssh_unless_browser_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("SSH_CONNECTION", "1.2.3.4 5 6.7.8.9 22")
    monkeypatch.delenv("BROWSER", raising=False)
    opened = fake_webbrowser(monkeypatch, True)
    assert _browser.open_browser("https://idp.example/a") is False
    assert opened == []
    monkeypatch.setenv("BROWSER", "my-browser")
    assert _browser.open_browser("https://idp.example/a") is True
    assert opened == ["https://idp.example/a"]


def test_render_plain_and_html() -> None:
    values = {"code": "<c&d>", "state": "s"}
    assert render("Got $code ($state) $missing$$", values) == ("Got <c&d> (s) $", "text/plain")
    assert render("<p>$code</p>", values) == ("<p>&lt;c&amp;d&gt;</p>", "text/html")
    assert render("  <p>${state}x</p>", values) == ("  <p>sx</p>", "text/html")
    assert render("$unclosed ${", values)[0] == " ${"


def test_pages_from_options() -> None:
    default = Pages.from_options()
    assert "$error_description" in default.error
    assert default.welcome is None
    custom = Pages.from_options(success_template="ok", welcome_template="<p>$auth_uri</p>")
    assert custom.success == "ok"
    assert custom.welcome == "<p>$auth_uri</p>"
    with pytest.raises(ValueError, match="error_template"):
        Pages.from_options(error_template=b"<p>")  # type: ignore[arg-type]
