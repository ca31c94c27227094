"""Views of the Django example site: a home page, a page that calls an API for the
signed-in user, and that API."""

from __future__ import annotations

import html

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import reverse

from identitylib.web.django import get_user, login_required, token_for_user
from identitylib.web.django.api import caller, require


def _page(body: str) -> HttpResponse:
    return HttpResponse(
        f"<!doctype html><title>identitylib Django example</title><body>{body}</body>"
    )


def index(request: HttpRequest) -> HttpResponse:
    user = get_user(request)
    if user is None:
        login = reverse("identitylib:login")
        return _page(f'<p>Not signed in.</p><p><a href="{login}?next=/">Sign in</a></p>')
    name = html.escape(user.username or user.name or "?")
    logout = reverse("identitylib:logout")
    return _page(
        f"<p>Signed in as {name}.</p>"
        '<p><a href="/call-api">Call the API</a></p>'
        f'<form method="post" action="{logout}">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{get_token(request)}">'
        '<button type="submit">Sign out</button></form>'
    )


@login_required
def call_api(request: HttpRequest) -> JsonResponse:
    """Calls /api/me with a token for the signed-in user. Without one (not consented, or
    the tokens are gone), token_for_user raises SignInRequired and AuthMiddleware sends
    the user through sign-in and back here."""
    token = token_for_user(request, [settings.API_SCOPE])
    answer = requests.get(
        request.build_absolute_uri("/api/me"),
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    return JsonResponse({"api_status": answer.status_code, "api_answer": answer.json()})


@require(scopes=["access_as_user"])
def api_me(request: HttpRequest) -> JsonResponse:
    """The protected API: a valid token for it with the access_as_user scope."""
    claims = caller(request).claims
    return JsonResponse({"preferred_username": claims.get("preferred_username")})
