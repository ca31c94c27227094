"""identitylib.web.django.api: protected API views with Django's test client and tokens
from the emulator."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tests._servers import require_module

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("django")

from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings

import identitylib
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    Emulator,
)
from identitylib.web.django import login_required
from identitylib.web.django.api import caller, require

from . import django_site
from .conftest import ALICE, ALICE_PASSWORD

django_site.configure()


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Emulator]:
    options = {
        "authority": emulator.authority(),
        "audience": [DEMO_API_ID, DEMO_API_URI],
        "client_id": DEMO_API_ID,
        "client_credential": DEMO_API_SECRET,
    }
    with override_settings(IDENTITYLIB_API=options):
        yield emulator


def user_token(emulator: Emulator) -> str:
    app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emulator.authority())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(
            ALICE, ALICE_PASSWORD, [django_site.API_SCOPE]
        )
    assert "access_token" in result, result
    return str(result["access_token"])


def bearer(token: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_valid_token_reaches_the_view_with_its_caller(api: Emulator) -> None:
    answer = Client().get("/api/me", **bearer(user_token(api)))
    assert answer.status_code == 200
    assert answer.json() == {"preferred_username": ALICE}


def test_no_token_is_401_with_a_bearer_challenge(api: Emulator) -> None:
    answer = Client().get("/api/me")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == "Bearer"
    assert answer["Content-Type"] == "application/json"
    assert answer.json()["error"] == "invalid_request"


def test_a_bad_token_is_401_invalid_token(api: Emulator) -> None:
    header, payload, signature = user_token(api).split(".")
    answer = Client().get("/api/me", **bearer(f"{header}.{payload}.{signature[:-4]}AAAA"))
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_a_missing_scope_is_403_insufficient_scope(api: Emulator) -> None:
    answer = Client().get("/api/files", **bearer(user_token(api)))
    assert answer.status_code == 403
    assert 'error="insufficient_scope"' in answer["WWW-Authenticate"]
    assert answer.json()["error"] == "insufficient_scope"


def test_guarded_views_take_posts_without_a_csrf_token(api: Emulator) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/api/me", **bearer(user_token(api))).status_code == 200
    assert client.post("/api/me").status_code == 401  # the guard, not CSRF, refuses


def test_on_behalf_of_gets_a_token_then_serves_it_from_the_cache(api: Emulator) -> None:
    token = user_token(api)
    first = Client().get("/api/obo", **bearer(token)).json()
    second = Client().get("/api/obo", **bearer(token)).json()
    assert first == {"has_token": True, "source": "identity_provider"}
    assert second == {"has_token": True, "source": "cache"}


def test_a_downstream_claims_challenge_is_401_with_the_claims(api: Emulator) -> None:
    token = user_token(api)
    api.faults.mfa_required = True
    answer = Client().get("/api/obo", **bearer(token))
    assert answer.status_code == 401
    assert answer.json()["error"] == "insufficient_claims"
    challenge = answer["WWW-Authenticate"]
    assert 'error="insufficient_claims"' in challenge
    encoded = challenge.split('claims="', 1)[1].split('"', 1)[0]
    assert "access_token" in json.loads(base64.b64decode(encoded))


def test_caller_outside_a_guarded_view_is_an_error() -> None:
    with pytest.raises(LookupError):
        caller(HttpRequest())


def test_async_views_are_refused_when_decorated() -> None:
    async def view(request: HttpRequest) -> JsonResponse:
        return JsonResponse({})

    with pytest.raises(TypeError, match="synchronous"):
        require(scopes=["access_as_user"])(view)
    with pytest.raises(TypeError, match="synchronous"):
        login_required(view)
