"""Non-blocking proactive refresh (``background_refresh=True``) and the hit fast path.

Functional tests only (request counts, which token is served) against the emulator, whose
``hold`` switch keeps a refresh at the server while a test looks; nothing here is timed.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import responses

import identitylib
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator
from tests._idp import token_posts

SCOPE = [f"{DEMO_API_URI}/.default"]
#: A well-known cloud: an app there needs no discovery.
TENANT = "7e4a0000-0000-4000-8000-000000005f11"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"


def _app(emu: Emulator, **kwargs: Any) -> identitylib.ConfidentialClientApplication:
    kwargs.setdefault("background_refresh", True)
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), **kwargs
    )


def _make_refresh_due(app: identitylib.ConfidentialClientApplication) -> None:
    for entry in app.token_cache._cache["AccessToken"].values():
        entry["refresh_on"] = str(int(time.time()) - 10)


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 5  # only ends the wait; the state below is the proof
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition(), "timed out"


def test_token_in_refresh_window_is_served_at_once_and_refreshed_once_in_background(
    emulator: Emulator,
) -> None:
    app = _app(emulator)
    first = app.acquire_token_for_client(SCOPE)["access_token"]
    _make_refresh_due(app)
    emulator.faults.hold(path_contains="/token")  # the refresh hangs until released
    results = [app.acquire_token_for_client(SCOPE) for _ in range(10)]
    assert {r["access_token"] for r in results} == {first}
    assert {r["token_source"] for r in results} == {"cache"}
    _wait_for(lambda: emulator.faults.holding == 1)  # one background refresh, not ten
    time.sleep(0.05)
    assert (emulator.faults.holding, token_posts(emulator)) == (1, 2)
    emulator.faults.release()
    _wait_for(lambda: not app._refreshing)
    assert token_posts(emulator) == 2
    refreshed = app.acquire_token_for_client(SCOPE)
    assert (refreshed["token_source"], token_posts(emulator)) == ("cache", 2)
    assert refreshed["access_token"] != first


def test_failed_background_refresh_is_logged_and_the_cached_token_served(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(emulator)
    first = app.acquire_token_for_client(SCOPE)["access_token"]
    _make_refresh_due(app)
    emulator.faults.inject(
        401,
        path_contains="/token",
        body={"error": "invalid_client", "error_description": "AADSTS7000215: Invalid secret"},
    )
    with caplog.at_level(logging.WARNING):
        assert app.acquire_token_for_client(SCOPE)["access_token"] == first
        _wait_for(lambda: token_posts(emulator) == 2 and not app._refreshing)
    assert any("refresh" in r.getMessage().lower() for r in caplog.records)
    assert app.acquire_token_for_client(SCOPE)["access_token"] == first
    _wait_for(lambda: not app._refreshing)  # the refresh this started, still due, ends here


def test_background_refresh_can_be_turned_off(emulator: Emulator) -> None:
    app = _app(emulator, background_refresh=False)
    first = app.acquire_token_for_client(SCOPE)["access_token"]
    _make_refresh_due(app)
    result = app.acquire_token_for_client(SCOPE)  # refreshed in line
    assert result["token_source"] == "identity_provider"
    assert result["access_token"] != first
    assert token_posts(emulator) == 2


def test_hit_fast_path_notices_removed_and_replaced_tokens(emulator: Emulator) -> None:
    app = _app(emulator)
    first = app.acquire_token_for_client(SCOPE)
    assert first["token_source"] == "identity_provider"
    assert app.acquire_token_for_client(SCOPE)["token_source"] == "cache"
    assert app.acquire_token_for_client(SCOPE)["access_token"] == first["access_token"]
    assert token_posts(emulator) == 1  # memorized
    app.remove_tokens_for_client()
    second = app.acquire_token_for_client(SCOPE)
    assert (second["token_source"], token_posts(emulator)) == ("identity_provider", 2)
    app.token_cache._cache["AccessToken"].clear()
    third = app.acquire_token_for_client(SCOPE)
    assert (third["token_source"], token_posts(emulator)) == ("identity_provider", 3)
    assert len({first["access_token"], second["access_token"], third["access_token"]}) == 3


def test_get_accounts_answer_follows_cache_changes() -> None:
    cache = identitylib.SerializableTokenCache()
    app = identitylib.PublicClientApplication("client-id", authority=AUTHORITY, token_cache=cache)
    assert app.get_accounts() == []
    account = {
        "home_account_id": "uid.tid",
        "environment": "login.microsoftonline.com",
        "realm": "tid",
        "local_account_id": "uid",
        "username": "a@contoso.example",
        "authority_type": "MSSTS",
    }
    cache.deserialize(json.dumps({"Account": {"uid.tid-login.microsoftonline.com-tid": account}}))
    first = app.get_accounts()
    assert [a["username"] for a in first] == ["a@contoso.example"]
    first[0]["username"] = "mutated by the caller"
    assert app.get_accounts()[0]["username"] == "a@contoso.example"
    app.remove_account(first[0])
    assert app.get_accounts() == []


def test_timing_metadata_when_asked(http: responses.RequestsMock) -> None:
    http.post(
        f"{AUTHORITY}/oauth2/v2.0/token",
        json={"token_type": "Bearer", "expires_in": 3600, "access_token": "at"},
    )
    app = identitylib.ConfidentialClientApplication(
        "client-id",
        client_credential="secret",
        authority=AUTHORITY,
        timing=True,
        background_refresh=False,
    )
    first = app.acquire_token_for_client(SCOPE)
    timing = first["timing"]
    assert set(timing) == {"total_ms", "http_ms", "cache_ms", "http_requests", "refresh_reason"}
    assert timing["http_requests"] == 1  # the token (a well-known cloud: no discovery)
    assert timing["refresh_reason"] == "no_cached_access_token"
    assert timing["total_ms"] >= timing["http_ms"] >= 0
    second = app.acquire_token_for_client(SCOPE)
    assert second["token_source"] == "cache"
    assert second["timing"]["http_requests"] == 0
    assert second["timing"]["refresh_reason"] is None
    _make_refresh_due(app)
    third = app.acquire_token_for_client(SCOPE)
    assert third["timing"]["refresh_reason"] == "proactive_refresh"
    claims = '{"access_token": {"nbf": {"essential": true, "value": "1"}}}'
    fourth = app.acquire_token_for_client(SCOPE, claims_challenge=claims)
    assert fourth["timing"]["refresh_reason"] == "force_refresh_or_claims"


def test_no_timing_key_by_default(emulator: Emulator) -> None:
    app = _app(emulator)
    assert "timing" not in app.acquire_token_for_client(SCOPE)
    assert "timing" not in app.acquire_token_for_client(SCOPE)


def test_a_refresh_in_flight_keeps_the_cache_it_started_with(emulator: Emulator) -> None:
    """app.token_cache = other while a background refresh waits for the server: the new
    token goes to the cache the refresh started with, never to the one assigned since."""
    app = _app(emulator)
    first = app.token_cache
    issued = app.acquire_token_for_client(SCOPE)["access_token"]
    _make_refresh_due(app)
    emulator.faults.hold(path_contains="/token")
    assert app.acquire_token_for_client(SCOPE)["token_source"] == "cache"
    _wait_for(lambda: emulator.faults.holding == 1)  # the refresh is at the server
    other = identitylib.TokenCache()
    app.token_cache = other
    emulator.faults.release()
    _wait_for(lambda: not app._refreshing)
    [refreshed] = [e["secret"] for e in first.search("AccessToken")]
    assert refreshed != issued
    assert list(other.search("AccessToken")) == []
    third = app.acquire_token_for_client(SCOPE)  # other: a miss
    assert third["token_source"] == "identity_provider"
    assert third["access_token"] not in (issued, refreshed)
    assert token_posts(emulator) == 3
