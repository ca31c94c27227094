"""System checks of ``identitylib.web.django`` (registered by its app config): the
middleware that applies the cookie policy is there and in the right place, and the
settings it overrides are reported."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

AUTH_MIDDLEWARE = "identitylib.web.django.middleware.AuthMiddleware"
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``AuthMiddleware`` and ``SessionMiddleware`` are installed, in that order."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if SESSION_MIDDLEWARE not in middleware:
        return [
            Error(
                "identitylib.web.django needs Django sessions.",
                hint=f"Add {SESSION_MIDDLEWARE!r} to MIDDLEWARE.",
                id="identitylib_web.E001",
            )
        ]
    if AUTH_MIDDLEWARE not in middleware:
        return [
            Error(
                "AuthMiddleware is not installed: sign-in on demand (SignInRequired) and "
                "the session cookie policy (Secure outside loopback) do not apply.",
                hint=f"Add {AUTH_MIDDLEWARE!r} to MIDDLEWARE, before SessionMiddleware.",
                id="identitylib_web.E002",
            )
        ]
    if middleware.index(AUTH_MIDDLEWARE) > middleware.index(SESSION_MIDDLEWARE):
        return [
            Error(
                "AuthMiddleware comes after SessionMiddleware, so it cannot apply the "
                "cookie policy to the session cookie.",
                hint="Move it before SessionMiddleware in MIDDLEWARE.",
                id="identitylib_web.E003",
            )
        ]
    return []


def check_cookie_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Settings that ``AuthMiddleware`` overrides on the session cookie."""
    found: list[CheckMessage] = []
    if not getattr(settings, "SESSION_COOKIE_HTTPONLY", True):
        found.append(
            Warning(
                "SESSION_COOKIE_HTTPONLY is False; AuthMiddleware sets HttpOnly on the "
                "session cookie all the same.",
                id="identitylib_web.W001",
            )
        )
    if getattr(settings, "SESSION_COOKIE_SAMESITE", "Lax") != "Lax":
        found.append(
            Warning(
                "SESSION_COOKIE_SAMESITE is not 'Lax'; AuthMiddleware sets SameSite=Lax on "
                "the session cookie all the same ('Strict' would lose the session on the "
                "return from the provider, 'None' or False would allow cross-site requests "
                "with it).",
                id="identitylib_web.W002",
            )
        )
    return found
