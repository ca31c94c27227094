"""A minimal Django site for the web tests: its settings and its URLconf (this module).

Django's settings are configured once per process (:func:`configure`); each test gives
``IDENTITYLIB_WEB`` / ``IDENTITYLIB_API`` with ``override_settings``. Sessions live in
Django's cache backend (server-side session keys, no database), so a test can see that
sign-in gives the browser a new session key.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import include, path

from identitylib.emulator import DEMO_API2_URI, DEMO_API_URI
from identitylib.web import SignInRequired
from identitylib.web.django import get_user, login_required, token_for_user
from identitylib.web.django.api import acquire_token_on_behalf_of, caller, require

API_SCOPE = f"{DEMO_API_URI}/access_as_user"
API2_SCOPE = f"{DEMO_API2_URI}/read"
OTHER_SCOPE = "https://graph.microsoft.com/Mail.Read"
DOWNSTREAM_SCOPE = "https://graph.microsoft.com/User.Read"

MIDDLEWARE = [
    "identitylib.web.django.middleware.AuthMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

SETTINGS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": "django-test-secret-key-for-signing-only",
    "ALLOWED_HOSTS": ["localhost", "127.0.0.1", "testserver", "app.example"],
    "ROOT_URLCONF": __name__,
    "INSTALLED_APPS": ["identitylib.web.django"],
    "MIDDLEWARE": MIDDLEWARE,
    "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
    "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    "USE_TZ": True,
    "TEMPLATES": [],
}


def configure() -> None:
    """Configure Django for this process (once)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(**SETTINGS)
        django.setup()


def index(request: HttpRequest) -> JsonResponse:
    user = get_user(request)
    return JsonResponse({"user": user.username if user else None, "csrf": get_token(request)})


@login_required
def orders(request: HttpRequest) -> JsonResponse:
    token = token_for_user(request, [API_SCOPE])
    user = get_user(request)
    return JsonResponse(
        {
            "page": "orders",
            "user": user.username if user else None,
            "token": bool(token.get("access_token")),
        }
    )


@login_required
def demo_api(request: HttpRequest) -> JsonResponse:
    """A downstream API: the emulator's demo API (its URL in the DEMO_API_URL setting)."""
    import requests
    from django.conf import settings

    token = token_for_user(request, [API_SCOPE])["access_token"]
    answer = requests.get(settings.DEMO_API_URL, headers={"Authorization": f"Bearer {token}"},
                          timeout=10)  # fmt: skip
    return JsonResponse({"status": answer.status_code,
                         "user": answer.json().get("preferred_username")})  # fmt: skip


@login_required
def stock(request: HttpRequest) -> JsonResponse:
    """A second API, whose scope needs the user's consent (asked for on first use)."""
    token = token_for_user(request, [API2_SCOPE])
    return JsonResponse({"page": "stock", "token": bool(token.get("access_token"))})


def raises(request: HttpRequest) -> HttpResponse:
    raise SignInRequired([OTHER_SCOPE])


def signout_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        '<form method="post" action="/auth/logout">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{get_token(request)}">'
        '<button id="out" type="submit">Sign out</button></form>'
    )


@require(scopes=["access_as_user"])
def api_me(request: HttpRequest) -> JsonResponse:
    claims = caller(request).claims
    return JsonResponse({"preferred_username": claims.get("preferred_username")})


@require(scopes=["Files.Write"])
def api_files(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"files": []})


@require(scopes=["access_as_user"])
def api_obo(request: HttpRequest) -> JsonResponse:
    result = acquire_token_on_behalf_of(request, [DOWNSTREAM_SCOPE])
    return JsonResponse(
        {"has_token": "access_token" in result, "source": result.get("token_source")}
    )


urlpatterns = [
    path("", index),
    path("orders", orders),
    path("raises", raises),
    path("demo-api", demo_api),
    path("stock", stock),
    path("signout", signout_page),
    path("api/me", api_me),
    path("api/files", api_files),
    path("api/obo", api_obo),
    path("auth/", include("identitylib.web.django.urls")),
]
