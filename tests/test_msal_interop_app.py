"""Application-level round trips with the real msal 1.39: each serves the other's tokens."""

from __future__ import annotations

from typing import Any

import pytest

import identitylib
from tests._servers import require_module

from .cache.test_msal_interop import FakeHttp

msal = require_module("msal")
pytestmark = pytest.mark.msal

TENANT = "11111111-2222-3333-4444-555555555555"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
SCOPES = [["https://graph.microsoft.com/.default"], ["api://backend/.default"]]


def token(access_token: str, **extra: Any) -> dict[str, Any]:
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": 3599, **extra}


def test_cache_written_by_msal_is_served_by_identitylib() -> None:
    msal_cache = msal.SerializableTokenCache()
    writer = msal.ConfidentialClientApplication(
        "cid",
        "secret",
        authority=AUTHORITY,
        token_cache=msal_cache,
        http_client=FakeHttp(token("graph-at"), token("backend-at", refresh_in=1800)),
    )
    for scopes in SCOPES:
        assert "access_token" in writer.acquire_token_for_client(scopes)

    cache = identitylib.SerializableTokenCache()
    cache.deserialize(msal_cache.serialize())
    no_tokens = FakeHttp()  # fails the test on any token request
    reader = identitylib.ConfidentialClientApplication(
        "cid", "secret", authority=AUTHORITY, token_cache=cache, http_client=no_tokens
    )
    graph = reader.acquire_token_for_client(SCOPES[0])
    backend = reader.acquire_token_for_client(SCOPES[1])
    assert (graph["access_token"], graph["token_source"]) == ("graph-at", "cache")
    assert (backend["access_token"], backend["token_source"]) == ("backend-at", "cache")
    assert backend["refresh_on"] > 0
    assert no_tokens.posts == []


def test_cache_written_by_identitylib_is_served_by_msal() -> None:
    cache = identitylib.SerializableTokenCache()
    writer = identitylib.ConfidentialClientApplication(
        "cid",
        "secret",
        authority=AUTHORITY,
        token_cache=cache,
        http_client=FakeHttp(token("graph-at"), token("backend-at")),
    )
    for scopes in SCOPES:
        assert writer.acquire_token_for_client(scopes)["token_source"] == "identity_provider"

    msal_cache = msal.SerializableTokenCache()
    msal_cache.deserialize(cache.serialize())
    no_tokens = FakeHttp()
    reader = msal.ConfidentialClientApplication(
        "cid", "secret", authority=AUTHORITY, token_cache=msal_cache, http_client=no_tokens
    )
    assert reader.acquire_token_for_client(SCOPES[0])["access_token"] == "graph-at"
    assert reader.acquire_token_for_client(SCOPES[1])["access_token"] == "backend-at"
    assert no_tokens.posts == []
    # And back again: msal's re-serialization still serves here.
    again = identitylib.SerializableTokenCache()
    again.deserialize(msal_cache.serialize())
    app = identitylib.ConfidentialClientApplication(
        "cid", "secret", authority=AUTHORITY, token_cache=again, http_client=FakeHttp()
    )
    assert app.acquire_token_for_client(SCOPES[0])["access_token"] == "graph-at"


def test_msal_cache_object_works_with_identitylib_app() -> None:
    """An msal cache object (e.g. msal-extensions' PersistedTokenCache) may be passed in."""
    msal_cache = msal.SerializableTokenCache()
    app = identitylib.ConfidentialClientApplication(
        "cid",
        "secret",
        authority=AUTHORITY,
        token_cache=msal_cache,
        http_client=FakeHttp(token("graph-at")),
    )
    assert app.acquire_token_for_client(SCOPES[0])["token_source"] == "identity_provider"
    assert app.acquire_token_for_client(SCOPES[0])["token_source"] == "cache"
    app.remove_tokens_for_client()
    assert msal_cache.search("AccessToken") is not None
    assert list(msal_cache.search("AccessToken")) == []


def test_extended_cache_keys_agree_with_msal() -> None:
    """Tokens for fmi_path / forwarded_client_claims written by msal are found here."""
    forwarded = '{"access_token":{"xms_ds_nonce":{"value":"n"}}}'
    msal_cache = msal.SerializableTokenCache()
    writer = msal.ConfidentialClientApplication(
        "cid",
        "secret",
        authority=AUTHORITY,
        token_cache=msal_cache,
        http_client=FakeHttp(token("fmi-at"), token("fwd-at")),
    )
    writer.acquire_token_for_client(SCOPES[0], fmi_path="agents/one")
    writer.acquire_token_for_client(SCOPES[0], forwarded_client_claims=forwarded)
    cache = identitylib.SerializableTokenCache()
    cache.deserialize(msal_cache.serialize())
    reader = identitylib.ConfidentialClientApplication(
        "cid", "secret", authority=AUTHORITY, token_cache=cache, http_client=FakeHttp()
    )
    fmi = reader.acquire_token_for_client(SCOPES[0], fmi_path="agents/one")
    fwd = reader.acquire_token_for_client(SCOPES[0], forwarded_client_claims=forwarded)
    assert (fmi["access_token"], fmi["token_source"]) == ("fmi-at", "cache")
    assert (fwd["access_token"], fwd["token_source"]) == ("fwd-at", "cache")
