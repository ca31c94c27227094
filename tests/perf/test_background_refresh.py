"""Non-blocking proactive refresh (``background_refresh=True``) and the hit fast path.

Functional tests only (request counts, which token is served); nothing here is timed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

import identitylib

from .test_single_flight import AUTHORITY, SlowServer

SCOPE = ["api://a/.default"]


class GatedServer(SlowServer):
    """Token requests wait until ``gate`` is set (the test decides when the server answers)."""

    def __init__(self, status: int = 200) -> None:
        super().__init__(delay=0.0, status=status)
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = 0

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> Any:
        with self.lock:
            self.arrived += 1
        assert self.gate.wait(5)
        return super().post(url, params=params, data=data, headers=headers, **kw)


def _app(server: SlowServer) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        "client-id",
        client_credential="secret",
        authority=AUTHORITY,
        http_client=server,
        background_refresh=True,
    )


def _make_refresh_due(app: identitylib.ConfidentialClientApplication) -> None:
    for entry in app.token_cache._cache["AccessToken"].values():
        entry["refresh_on"] = str(int(time.time()) - 10)


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 5  # only ends the wait; the state below is the proof
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition(), "timed out"


def test_token_in_refresh_window_is_served_at_once_and_refreshed_once_in_background() -> None:
    server = GatedServer()
    app = _app(server)
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-1"
    _make_refresh_due(app)
    server.gate.clear()  # the refresh hangs until released
    results = [app.acquire_token_for_client(SCOPE) for _ in range(10)]
    assert {r["access_token"] for r in results} == {"at-1"}
    assert {r["token_source"] for r in results} == {"cache"}
    _wait_for(lambda: server.arrived == 2)  # one background refresh, not ten
    time.sleep(0.05)
    assert server.arrived == 2
    server.gate.set()
    _wait_for(lambda: not app._refreshing)
    assert len(server.posts) == 2
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-2"


def test_failed_background_refresh_is_logged_and_the_cached_token_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = GatedServer()
    app = _app(server)
    app.acquire_token_for_client(SCOPE)
    _make_refresh_due(app)
    server.status = 401
    with caplog.at_level(logging.WARNING):
        assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-1"
        _wait_for(lambda: len(server.posts) == 2 and not app._refreshing)
    assert any("refresh" in r.getMessage().lower() for r in caplog.records)
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-1"


def test_background_refresh_can_be_turned_off() -> None:
    server = SlowServer(delay=0.0)
    app = identitylib.ConfidentialClientApplication(
        "client-id",
        client_credential="secret",
        authority=AUTHORITY,
        http_client=server,
        background_refresh=False,
    )
    app.acquire_token_for_client(SCOPE)
    _make_refresh_due(app)
    result = app.acquire_token_for_client(SCOPE)  # refreshed in line
    assert result["access_token"] == "at-2"
    assert result["token_source"] == "identity_provider"


def test_hit_fast_path_notices_removed_and_replaced_tokens() -> None:
    server = SlowServer(delay=0.0)
    app = _app(server)
    assert app.acquire_token_for_client(SCOPE)["token_source"] == "identity_provider"
    assert app.acquire_token_for_client(SCOPE)["token_source"] == "cache"
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-1"  # memorized
    app.remove_tokens_for_client()
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-2"
    app.token_cache._cache["AccessToken"].clear()
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-3"


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


def test_timing_metadata_when_asked() -> None:
    server = SlowServer(delay=0.0)
    app = identitylib.ConfidentialClientApplication(
        "client-id",
        client_credential="secret",
        authority=AUTHORITY,
        http_client=server,
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


def test_no_timing_key_by_default() -> None:
    app = identitylib.ConfidentialClientApplication(
        "client-id", client_credential="secret", authority=AUTHORITY, http_client=SlowServer(0)
    )
    assert "timing" not in app.acquire_token_for_client(SCOPE)
    assert "timing" not in app.acquire_token_for_client(SCOPE)


def test_a_refresh_in_flight_keeps_the_cache_it_started_with() -> None:
    """app.token_cache = other while a background refresh waits for the server: the new
    token goes to the cache the refresh started with, never to the one assigned since."""
    server = GatedServer()
    app = _app(server)
    first = app.token_cache
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-1"
    _make_refresh_due(app)
    server.gate.clear()
    assert app.acquire_token_for_client(SCOPE)["token_source"] == "cache"
    _wait_for(lambda: server.arrived == 2)  # the refresh is at the server
    other = identitylib.TokenCache()
    app.token_cache = other
    server.gate.set()
    _wait_for(lambda: not app._refreshing)
    assert [e["secret"] for e in first.search("AccessToken")] == ["at-2"]
    assert list(other.search("AccessToken")) == []
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-3"  # other: a miss
