"""Spans, metrics and totals of real acquisitions against the emulator, blocking and asyncio,
recorded by the real OpenTelemetry SDK (in-memory exporters)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import identitylib
from identitylib import aio
from identitylib._telemetry import _names as n
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator
from identitylib.emulator._mi_sources import managed_identity_environment

from .conftest import Signals

APP_SCOPES = [f"{DEMO_API_URI}/.default"]
RESOURCE = "https://management.azure.com/"
Results = tuple[Any, list[Any]]


def _client_credentials_sync(emu: Emulator, secret: str, calls: int) -> Results:
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, secret, authority=emu.authority()
    )
    return app, [app.acquire_token_for_client(APP_SCOPES) for _ in range(calls)]


def _client_credentials_async(emu: Emulator, secret: str, calls: int) -> Results:
    async def main() -> Results:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, secret, authority=emu.authority()
        ) as app:
            return app, [await app.acquire_token_for_client(APP_SCOPES) for _ in range(calls)]

    return asyncio.run(main())


def _managed_identity_sync(calls: int) -> Results:
    client = identitylib.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity())
    return client, [client.acquire_token_for_client(resource=RESOURCE) for _ in range(calls)]


def _managed_identity_async(calls: int) -> Results:
    async def main() -> Results:
        async with aio.ManagedIdentityClient(
            identitylib.SystemAssignedManagedIdentity()
        ) as client:
            return client, [
                await client.acquire_token_for_client(resource=RESOURCE) for _ in range(calls)
            ]

    return asyncio.run(main())


CLIENT_CREDENTIALS: dict[str, Callable[[Emulator, str, int], Results]] = {
    "blocking": _client_credentials_sync,
    "asyncio": _client_credentials_async,
}
MANAGED_IDENTITY: dict[str, Callable[[int], Results]] = {
    "blocking": _managed_identity_sync,
    "asyncio": _managed_identity_async,
}
APIS = sorted(CLIENT_CREDENTIALS)


def _posts(otel: Signals, call: Any) -> list[Any]:
    return [s for s in otel.children(call) if s.attributes[n.HTTP_METHOD] == "POST"]


def _counts(otel: Signals, metric: str, *keys: str) -> Counter[tuple[Any, ...]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for attributes, value in otel.points(metric):
        counts[tuple(attributes.get(k) for k in keys)] += value
    return counts


@pytest.mark.parametrize("api", APIS)
def test_a_miss_then_a_cache_hit(otel: Signals, emulator: Emulator, api: str) -> None:
    app, (first, second) = CLIENT_CREDENTIALS[api](emulator, DEMO_DAEMON_SECRET, 2)
    assert (first["token_source"], second["token_source"]) == ("identity_provider", "cache")

    calls = otel.calls()
    assert [c.name for c in calls] == ["identitylib acquire_token_for_client"] * 2
    miss, hit = calls
    assert miss.attributes[n.TOKEN_SOURCE] == "identity_provider"
    assert miss.attributes[n.REFRESH_REASON] == "no_cached_access_token"
    assert miss.attributes[n.OUTCOME] == "success"
    assert miss.status.status_code is StatusCode.UNSET
    (post,) = _posts(otel, miss)
    assert post.kind is SpanKind.CLIENT
    assert post.attributes[n.HTTP_STATUS] == 200
    assert post.attributes[n.SERVER_ADDRESS] == "127.0.0.1"
    assert post.attributes[n.URL_FULL] == f"{emulator.authority()}/oauth2/v2.0/token"
    assert n.HTTP_RESEND_COUNT not in post.attributes
    assert hit.attributes[n.TOKEN_SOURCE] == "cache"
    assert hit.attributes[n.REFRESH_REASON] == "not_applicable"
    assert hit.attributes[n.HTTP_REQUEST_COUNT] == 0
    assert otel.children(hit) == []

    acquisitions = _counts(otel, n.ACQUISITIONS, n.API, n.TOKEN_SOURCE, n.REFRESH_REASON)
    assert acquisitions == {
        ("acquire_token_for_client", "identity_provider", "no_cached_access_token"): 1,
        ("acquire_token_for_client", "cache", "not_applicable"): 1,
    }
    for histogram in (
        n.ACQUISITION_DURATION,
        n.ACQUISITION_HTTP_DURATION,
        n.ACQUISITION_LIBRARY_DURATION,
    ):
        assert sum(count for _, count in otel.points(histogram)) == 2
    http = _counts(otel, n.HTTP_CLIENT_DURATION, n.HTTP_METHOD, n.HTTP_STATUS)
    assert http[("POST", 200)] == 1

    totals = app.get_token_totals()
    assert (totals.tokens_from_cache, totals.tokens_from_identity_provider) == (1, 1)
    assert totals.errors == 0
    assert totals.cache_hit_ratio == 0.5
    assert 0 < totals.http_ms <= totals.total_ms


@pytest.mark.parametrize("api", APIS)
def test_an_error_then_the_same_error_from_the_local_throttle(
    otel: Signals, emulator: Emulator, api: str
) -> None:
    body = {"error": "invalid_scope", "error_description": "no such scope"}
    emulator.faults.inject(400, body=body, path_contains="/token")
    app, (first, second) = CLIENT_CREDENTIALS[api](emulator, DEMO_DAEMON_SECRET, 2)
    assert first["error"] == second["error"] == "invalid_scope"

    by_server, by_client = otel.calls()
    for call in (by_server, by_client):
        assert call.status.status_code is StatusCode.ERROR
        assert call.attributes[n.ERROR_TYPE] == "invalid_scope"
        assert call.attributes[n.OUTCOME] == "failure"
    assert by_server.attributes[n.TOKEN_SOURCE] == "identity_provider"
    (post,) = _posts(otel, by_server)
    assert post.attributes[n.HTTP_STATUS] == 400
    assert post.attributes[n.ERROR_TYPE] == "400"
    assert post.status.status_code is StatusCode.ERROR
    assert _posts(otel, by_client) == []  # answered from memory
    assert [e.name for e in by_client.events] == ["identitylib.throttled_locally"]
    assert _counts(otel, n.HTTP_THROTTLED, n.THROTTLED_BY) == {("client",): 1}
    failures = _counts(otel, n.ACQUISITIONS, n.OUTCOME, n.ERROR_TYPE)
    assert failures == {("failure", "invalid_scope"): 2}
    assert app.get_token_totals().errors == 2


@pytest.mark.parametrize("api", APIS)
def test_a_throttled_and_retried_request(otel: Signals, emulator: Emulator, api: str) -> None:
    emulator.faults.inject(429, retry_after=0, path_contains="/token")
    _, (result,) = CLIENT_CREDENTIALS[api](emulator, DEMO_DAEMON_SECRET, 1)
    assert result["token_source"] == "identity_provider"

    (call,) = otel.calls()
    throttled, retried = _posts(otel, call)
    assert throttled.attributes[n.HTTP_STATUS] == 429
    assert throttled.attributes[n.ERROR_TYPE] == "429"
    assert retried.attributes[n.HTTP_STATUS] == 200
    assert retried.attributes[n.HTTP_RESEND_COUNT] == 1
    assert call.attributes[n.OUTCOME] == "success"
    assert _counts(otel, n.HTTP_RETRIES, n.HTTP_METHOD) == {("POST",): 1}
    assert _counts(otel, n.HTTP_THROTTLED, n.THROTTLED_BY) == {("server",): 1}


@pytest.mark.parametrize("api", APIS)
def test_an_exception_is_a_failed_call(otel: Signals, emulator: Emulator, api: str) -> None:
    def blocking() -> Any:
        app = identitylib.ConfidentialClientApplication(
            DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority()
        )
        with pytest.raises(ValueError):
            app.acquire_token_for_client([])
        return app

    async def asyncio_api() -> Any:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority()
        ) as app:
            with pytest.raises(ValueError):
                await app.acquire_token_for_client([])
            return app

    app = blocking() if api == "blocking" else asyncio.run(asyncio_api())
    (call,) = otel.calls()
    assert call.attributes[n.ERROR_TYPE] == "builtins.ValueError"
    assert call.attributes[n.TOKEN_SOURCE] == "none"
    assert call.status.status_code is StatusCode.ERROR
    assert app.get_token_totals().errors == 1


@pytest.mark.parametrize("api", APIS)
def test_managed_identity(
    otel: Signals, emulator: Emulator, mi_env: pytest.MonkeyPatch, api: str
) -> None:
    for name, value in managed_identity_environment(emulator, "app_service").items():
        mi_env.setenv(name, value)
    client, (first, second) = MANAGED_IDENTITY[api](2)
    assert (first["token_source"], second["token_source"]) == ("identity_provider", "cache")

    miss, hit = otel.calls()
    assert miss.name == "identitylib managed_identity.acquire_token_for_client"
    assert miss.attributes[n.TOKEN_SOURCE] == "managed_identity"
    assert miss.attributes[n.MANAGED_IDENTITY_SOURCE] == "APP_SERVICE"
    assert miss.attributes[n.REFRESH_REASON] == "no_cached_access_token"
    (get,) = otel.children(miss)
    assert get.attributes[n.HTTP_METHOD] == "GET"
    assert get.attributes[n.URL_FULL] == emulator.app_service_endpoint  # no query
    assert get.attributes[n.HTTP_STATUS] == 200
    assert hit.attributes[n.TOKEN_SOURCE] == "cache"
    sources = _counts(otel, n.ACQUISITIONS, n.TOKEN_SOURCE, n.MANAGED_IDENTITY_SOURCE)
    assert sources == {("managed_identity", "APP_SERVICE"): 1, ("cache", None): 1}
    totals = client.get_token_totals()
    assert (totals.tokens_from_cache, totals.tokens_from_identity_provider) == (1, 1)
