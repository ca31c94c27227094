"""Refresh reasons the flows report (MSAL.NET's CacheRefreshReason), blocking and asyncio,
recorded by the real OpenTelemetry SDK."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from identitylib._telemetry import _names as n
from identitylib.emulator import DEMO_DAEMON_SECRET, Emulator

from .conftest import Signals
from .test_signals import APIS, CLIENT_CREDENTIALS

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
