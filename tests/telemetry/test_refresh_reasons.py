"""Refresh reasons the flows report (MSAL.NET's CacheRefreshReason), blocking and asyncio,
recorded by the real OpenTelemetry SDK."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest

import identitylib
from identitylib import aio
from identitylib._telemetry import _names as n
from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator

from .conftest import Signals
from .test_signals import APIS, APP_SCOPES, CLIENT_CREDENTIALS

#: Shorter than the lookup's expiry skew (300 s): the cached token is expired at once.
EXPIRING_LIFETIME = 200


def _reasons(otel: Signals) -> Counter[tuple[Any, ...]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for attributes, value in otel.points(n.ACQUISITIONS):
        counts[(attributes.get(n.TOKEN_SOURCE), attributes.get(n.REFRESH_REASON))] += value
    return counts


@pytest.mark.parametrize("api", APIS)
def test_an_expired_cached_token_is_the_reason(
    otel: Signals, emulator: Emulator, api: str
) -> None:
    emulator.faults.access_token_lifetime = EXPIRING_LIFETIME
    _, results = CLIENT_CREDENTIALS[api](emulator, DEMO_DAEMON_SECRET, 2)
    assert [r["token_source"] for r in results] == ["identity_provider"] * 2

    first, second = otel.calls()
    assert first.attributes[n.REFRESH_REASON] == "no_cached_access_token"
    assert second.attributes[n.REFRESH_REASON] == "expired"
    assert _reasons(otel) == {
        ("identity_provider", "no_cached_access_token"): 1,
        ("identity_provider", "expired"): 1,
    }


def _make_refresh_due(app: Any) -> None:
    for entry in app.token_cache.search("AccessToken"):
        entry["refresh_on"] = str(int(entry["cached_at"]) - 10)


def _background_refresh_sync(emu: Emulator) -> Any:
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), background_refresh=True
    )
    assert app.acquire_token_for_client(APP_SCOPES)["token_source"] == "identity_provider"
    _make_refresh_due(app)
    assert app.acquire_token_for_client(APP_SCOPES)["token_source"] == "cache"
    for _ in range(500):  # bounded: the background thread ends after one request
        if app.get_token_totals().background_refreshes:
            break
        threading.Event().wait(0.01)
    return app


def _background_refresh_async(emu: Emulator) -> Any:
    async def main() -> Any:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(),
            background_refresh=True,
        ) as app:  # fmt: skip
            first = await app.acquire_token_for_client(APP_SCOPES)
            assert first["token_source"] == "identity_provider"
            _make_refresh_due(app)
            assert (await app.acquire_token_for_client(APP_SCOPES))["token_source"] == "cache"
            for _ in range(500):  # bounded: the background task ends after one request
                if app.get_token_totals().background_refreshes:
                    break
                await asyncio.sleep(0.01)
            return app

    return asyncio.run(main())


BACKGROUND = {"blocking": _background_refresh_sync, "asyncio": _background_refresh_async}


@pytest.mark.parametrize("api", APIS)
def test_a_background_refresh_is_counted_and_traced(
    otel: Signals, emulator: Emulator, api: str
) -> None:
    app = BACKGROUND[api](emulator)

    totals = app.get_token_totals()
    assert (totals.background_refreshes, totals.background_refresh_errors) == (1, 0)
    assert totals.background_ms > 0
    assert (totals.tokens_from_cache, totals.tokens_from_identity_provider) == (1, 1)
    _miss, hit, refresh = sorted(otel.calls(), key=lambda s: s.start_time or 0)
    assert refresh.name == "identitylib acquire_token_for_client background_refresh"
    assert refresh.parent is not None
    assert hit.context is not None
    assert refresh.parent.span_id == hit.context.span_id
    assert refresh.attributes[n.BACKGROUND] is True
    assert refresh.attributes[n.REFRESH_REASON] == "proactive_refresh"
    assert refresh.attributes[n.TOKEN_SOURCE] == "identity_provider"
    (post,) = [s for s in otel.children(refresh) if s.attributes[n.HTTP_METHOD] == "POST"]
    assert post.attributes[n.HTTP_STATUS] == 200
    assert otel.children(hit) == [refresh]
    assert _reasons(otel) == {
        ("identity_provider", "no_cached_access_token"): 1,
        ("cache", "not_applicable"): 1,
        ("identity_provider", "proactive_refresh"): 1,
    }


@pytest.mark.parametrize("api", APIS)
def test_a_background_refresh_is_counted_without_opentelemetry(
    emulator: Emulator, api: str
) -> None:
    totals = BACKGROUND[api](emulator).get_token_totals()
    assert (totals.background_refreshes, totals.background_refresh_errors) == (1, 0)
    assert (totals.tokens_from_cache, totals.tokens_from_identity_provider) == (1, 1)
