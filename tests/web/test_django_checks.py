"""The system checks and the settings handling of identitylib.web.django."""

from __future__ import annotations

from typing import Any

import pytest

from tests._servers import require_module

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("django")

from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from identitylib.emulator import DEMO_WEB_ID, DEMO_WEB_SECRET
from identitylib.web import WebAppAuth
from identitylib.web.django import get_api, get_auth
from identitylib.web.django.context_processors import identity

from . import django_site

django_site.configure()

AUTH = "identitylib.web.django.middleware.AuthMiddleware"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
AUTHORITY = "https://login.microsoftonline.com/contoso.onmicrosoft.com"


def ids(**settings: Any) -> set[str]:
    with override_settings(**settings):
        return {message.id for message in run_checks() if message.id}


def test_the_test_site_passes_the_checks() -> None:
    assert not {i for i in ids() if i.startswith("identitylib_web.")}


@pytest.mark.parametrize(
    ("middleware", "expected"),
    [
        ([AUTH], "identitylib_web.E001"),
        ([SESSIONS], "identitylib_web.E002"),
        ([SESSIONS, AUTH], "identitylib_web.E003"),
    ],
)
def test_middleware_missing_or_misplaced_is_an_error(middleware: list[str], expected: str) -> None:
    assert expected in ids(MIDDLEWARE=middleware)


def test_weaker_cookie_settings_are_reported() -> None:
    found = ids(SESSION_COOKIE_HTTPONLY=False, SESSION_COOKIE_SAMESITE="Strict")
    assert {"identitylib_web.W001", "identitylib_web.W002"} <= found


def test_settings_make_the_objects_once_and_again_when_changed() -> None:
    options = {"client_id": DEMO_WEB_ID, "client_credential": "s", "authority": AUTHORITY}
    with override_settings(IDENTITYLIB_WEB={**options, "home": "/start"}):
        first = get_auth()
        assert get_auth() is first
        assert first.home == "/start"
    with override_settings(IDENTITYLIB_WEB={**options, "home": "https://evil.example/"}):
        second = get_auth()
        assert second is not first
        assert second.home == "/"  # home is a path of the site too


def test_a_prebuilt_web_app_auth_may_be_given() -> None:
    auth = WebAppAuth(DEMO_WEB_ID, DEMO_WEB_SECRET, authority=AUTHORITY)
    with override_settings(IDENTITYLIB_WEB={"auth": auth}):
        assert get_auth().auth is auth


@pytest.mark.parametrize("value", [None, "client-id", ["x"]])
def test_missing_settings_are_improperly_configured(value: Any) -> None:
    with override_settings(IDENTITYLIB_WEB=value, IDENTITYLIB_API=value):
        with pytest.raises(ImproperlyConfigured, match="IDENTITYLIB_WEB"):
            get_auth()
        with pytest.raises(ImproperlyConfigured, match="IDENTITYLIB_API"):
            get_api()


def test_a_view_without_sessions_is_improperly_configured() -> None:
    options = {"client_id": DEMO_WEB_ID, "client_credential": "s", "authority": AUTHORITY}
    with override_settings(IDENTITYLIB_WEB=options):
        request = RequestFactory().get("/")
        with pytest.raises(ImproperlyConfigured, match="SessionMiddleware"):
            identity(request)


def test_templates_get_the_user() -> None:
    from django.contrib.sessions.backends.cache import SessionStore

    options = {"client_id": DEMO_WEB_ID, "client_credential": "s", "authority": AUTHORITY}
    with override_settings(IDENTITYLIB_WEB=options):
        request = RequestFactory().get("/")
        request.session = SessionStore()
        assert identity(request) == {"identitylib_user": None}
        request.session["identitylib.user"] = {
            "account": {"home_account_id": "uid.utid"},
            "claims": {"preferred_username": "bob@contoso.example"},
        }
        assert identity(request)["identitylib_user"].username == "bob@contoso.example"


def error_report() -> str:
    """Django's debug page for an error (with the settings; no secret in this frame)."""
    import sys

    from django.views.debug import ExceptionReporter

    try:
        raise RuntimeError("a failing view")
    except RuntimeError:
        return str(ExceptionReporter(None, *sys.exc_info()).get_traceback_html())


def test_error_reports_hide_the_credentials_of_the_settings() -> None:
    secret, assertion = "web-secret-" + "4711", "assertion-" + "0815"  # not in this source
    web = {"client_id": DEMO_WEB_ID, "client_credential": secret, "authority": AUTHORITY}
    api = {
        "authority": AUTHORITY,
        "audience": "api://x",
        "client_id": "api",
        "client_credential": {"client_assertion": assertion},
    }
    with override_settings(IDENTITYLIB_WEB=web, IDENTITYLIB_API=api):
        assert get_auth().auth.client_id == DEMO_WEB_ID
        report = error_report()
    assert "IDENTITYLIB_WEB" in report
    assert secret not in report
    assert assertion not in report
    assert web["client_credential"] == secret  # the value itself is unchanged
