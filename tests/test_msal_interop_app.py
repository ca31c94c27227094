"""Application-level round trips with the real msal 1.39: each serves the other's tokens.

Both libraries' daemon apps acquire from the session's TLS emulator (msal needs https);
the tokens are compared writer to reader, and the reader's cache hits are proven by the
emulator's request log.
"""

from __future__ import annotations

import pytest

import identitylib
from identitylib.emulator import DEMO_API_URI
from tests._idp import Idp
from tests._servers import require_module

msal = require_module("msal")
pytestmark = pytest.mark.msal

SCOPES = [["https://graph.microsoft.com/.default"], [f"{DEMO_API_URI}/.default"]]


def test_cache_written_by_msal_is_served_by_identitylib(tls_idp: Idp) -> None:
    msal_cache = msal.SerializableTokenCache()
    writer = msal.ConfidentialClientApplication(**tls_idp.msal_kwargs(), token_cache=msal_cache)
    tls_idp.emu.faults.refresh_in = 1800
    issued = [writer.acquire_token_for_client(scopes)["access_token"] for scopes in SCOPES]
    assert tls_idp.token_posts() == 2

    cache = identitylib.SerializableTokenCache()
    cache.deserialize(msal_cache.serialize())
    reader = identitylib.ConfidentialClientApplication(**tls_idp.app_kwargs(), token_cache=cache)
    graph = reader.acquire_token_for_client(SCOPES[0])
    backend = reader.acquire_token_for_client(SCOPES[1])
    assert (graph["access_token"], graph["token_source"]) == (issued[0], "cache")
    assert (backend["access_token"], backend["token_source"]) == (issued[1], "cache")
    assert backend["refresh_on"] > 0
    assert tls_idp.token_posts() == 2  # msal's only


def test_cache_written_by_identitylib_is_served_by_msal(tls_idp: Idp) -> None:
    cache = identitylib.SerializableTokenCache()
    writer = identitylib.ConfidentialClientApplication(**tls_idp.app_kwargs(), token_cache=cache)
    issued = []
    for scopes in SCOPES:
        result = writer.acquire_token_for_client(scopes)
        assert result["token_source"] == "identity_provider"
        issued.append(result["access_token"])

    msal_cache = msal.SerializableTokenCache()
    msal_cache.deserialize(cache.serialize())
    reader = msal.ConfidentialClientApplication(**tls_idp.msal_kwargs(), token_cache=msal_cache)
    assert reader.acquire_token_for_client(SCOPES[0])["access_token"] == issued[0]
    assert reader.acquire_token_for_client(SCOPES[1])["access_token"] == issued[1]
    assert tls_idp.token_posts() == 2  # identitylib's only
    # And back again: msal's re-serialization still serves here.
    again = identitylib.SerializableTokenCache()
    again.deserialize(msal_cache.serialize())
    app = identitylib.ConfidentialClientApplication(**tls_idp.app_kwargs(), token_cache=again)
    assert app.acquire_token_for_client(SCOPES[0])["access_token"] == issued[0]
    assert tls_idp.token_posts() == 2


def test_msal_cache_object_works_with_identitylib_app(tls_idp: Idp) -> None:
    """An msal cache object (e.g. msal-extensions' PersistedTokenCache) may be passed in."""
    msal_cache = msal.SerializableTokenCache()
    app = identitylib.ConfidentialClientApplication(**tls_idp.app_kwargs(), token_cache=msal_cache)
    assert app.acquire_token_for_client(SCOPES[0])["token_source"] == "identity_provider"
    assert app.acquire_token_for_client(SCOPES[0])["token_source"] == "cache"
    assert tls_idp.token_posts() == 1
    app.remove_tokens_for_client()
    assert msal_cache.search("AccessToken") is not None
    assert list(msal_cache.search("AccessToken")) == []


def test_extended_cache_keys_agree_with_msal(tls_idp: Idp) -> None:
    """Tokens for fmi_path / forwarded_client_claims written by msal are found here."""
    forwarded = '{"access_token":{"xms_ds_nonce":{"value":"n"}}}'
    msal_cache = msal.SerializableTokenCache()
    writer = msal.ConfidentialClientApplication(**tls_idp.msal_kwargs(), token_cache=msal_cache)
    fmi_at = writer.acquire_token_for_client(SCOPES[0], fmi_path="agents/one")["access_token"]
    fwd_at = writer.acquire_token_for_client(SCOPES[0], forwarded_client_claims=forwarded)[
        "access_token"
    ]
    assert fmi_at != fwd_at
    assert tls_idp.token_posts() == 2
    cache = identitylib.SerializableTokenCache()
    cache.deserialize(msal_cache.serialize())
    reader = identitylib.ConfidentialClientApplication(**tls_idp.app_kwargs(), token_cache=cache)
    fmi = reader.acquire_token_for_client(SCOPES[0], fmi_path="agents/one")
    fwd = reader.acquire_token_for_client(SCOPES[0], forwarded_client_claims=forwarded)
    assert (fmi["access_token"], fmi["token_source"]) == (fmi_at, "cache")
    assert (fwd["access_token"], fwd["token_source"]) == (fwd_at, "cache")
    assert tls_idp.token_posts() == 2  # msal's only
