"""The managed-identity client uses the token clients' mechanisms, one of each (#17): the
transports' retry policy (with IMDS's rules), their throttle (bounded in memory), the shared
single-flight (a waiting caller bounded by one request's deadline) and configured transports.

The asyncio twins are in tests/aio/test_managed_identity_shared_mechanisms.py.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

import pytest
import requests
import responses

import identitylib
from identitylib._flows._single_flight import SingleFlight
from identitylib._managed_identity import _sources, _transport
from identitylib._managed_identity._context import IMDS_RETRY
from identitylib._transport._policy import NO_RETRY, RetryPolicy
from identitylib._transport._sync import SyncTransport
from identitylib._transport._throttle import MAX_MEMORY_RECORDS
from identitylib.emulator import Emulator
from identitylib.emulator._mi_sources import managed_identity_environment

IMDS = "http://169.254.169.254/metadata/identity/oauth2/token"
RESOURCE = "https://management.azure.com"
#: How long a held request waits to be released: only bounds the test if it goes wrong.
HOLD = 10.0


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_sources, "ARC_AGENT_FILES", {})
    return monkeypatch


# --- one retry policy --------------------------------------------------------------------


def test_imds_rules_are_a_value_of_the_transports_policy() -> None:
    assert isinstance(IMDS_RETRY, RetryPolicy)
    for status in (404, 410):  # IMDS's own transient answers
        assert IMDS_RETRY.after_response("GET", status, {}, 1, uniform=lambda a, b: a).retry
        assert not NO_RETRY.after_response("GET", status, {}, 1).retry
    capped = IMDS_RETRY.after_response("GET", 503, {}, 4, uniform=lambda a, b: a)
    assert capped.wait == IMDS_RETRY.max_backoff == 4.0  # 0.5 * 2**3, capped
    over_budget = IMDS_RETRY.after_response("GET", 503, {}, 2, elapsed=9.0)
    assert not over_budget.retry  # a 1 s wait would end past the 10 s budget


# --- one throttle ------------------------------------------------------------------------


def test_the_throttle_store_is_bounded_without_an_http_cache(
    http: responses.RequestsMock,
) -> None:
    http.get(IMDS, status=429, json={"error": "throttled"}, headers={"Retry-After": "600"})
    client = identitylib.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity())
    resources = [f"https://r{n}.example" for n in range(MAX_MEMORY_RECORDS + 1)]
    for resource in resources:
        assert client.acquire_token_for_client(resource=resource)["error"] == "throttled"
    sent = len(http.calls)
    assert sent == len(resources)  # Retry-After 600 s: beyond IMDS's budget, no retry
    client.acquire_token_for_client(resource=resources[-1])  # remembered: no request
    assert len(http.calls) == sent
    client.acquire_token_for_client(resource=resources[0])  # the oldest record was dropped
    assert len(http.calls) > sent


# --- one single-flight -------------------------------------------------------------------


class HoldingSession(requests.Session):
    """Sends for real, but holds the first managed-identity GET until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.leader_sent = threading.Event()
        self.release = threading.Event()

    def get(self, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if "/metadata/identity" in str(url) and not self.leader_sent.is_set():
            self.leader_sent.set()
            self.release.wait(HOLD)
        return super().get(url, *args, **kwargs)


def timed_out(event: threading.Event, seconds: float) -> bool:
    """An injected wait that ends at once, as if ``seconds`` had passed."""
    return event.is_set()


def token_gets(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if "/metadata/identity" in path)


def test_a_waiting_caller_sends_its_own_request_once_the_deadline_is_over(
    emulator: Emulator, clean_env: pytest.MonkeyPatch
) -> None:
    for name, value in managed_identity_environment(emulator, "imds").items():
        clean_env.setenv(name, value)
    limits: list[float] = []

    class Client(identitylib.ManagedIdentityClient):
        def _coalescing(self, limit: float) -> SingleFlight:
            limits.append(limit)
            return SingleFlight(limit, wait=timed_out)

    session = HoldingSession()
    client = Client(identitylib.SystemAssignedManagedIdentity(), http_client=session)
    results: dict[str, Any] = {}
    leader = threading.Thread(
        target=lambda: results.update(leader=client.acquire_token_for_client(resource=RESOURCE))
    )
    leader.start()
    try:
        assert session.leader_sent.wait(HOLD)
        follower = client.acquire_token_for_client(resource=RESOURCE)  # the leader is held
        sent_while_held = token_gets(emulator)
    finally:
        session.release.set()
        leader.join(HOLD)
    assert limits == [_transport.DEFAULT_DEADLINE]
    assert sent_while_held == 1  # the follower's own (the leader's is held before sending)
    assert follower["token_source"] == "identity_provider"
    assert results["leader"]["token_source"] == "identity_provider"
    assert token_gets(emulator) == 2


def test_concurrent_misses_wait_for_the_one_in_flight(
    emulator: Emulator, clean_env: pytest.MonkeyPatch
) -> None:
    for name, value in managed_identity_environment(emulator, "imds").items():
        clean_env.setenv(name, value)
    session = HoldingSession()
    client = identitylib.ManagedIdentityClient(
        identitylib.SystemAssignedManagedIdentity(), http_client=session
    )
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(client.acquire_token_for_client(resource=RESOURCE))
        )
        for _ in range(4)
    ]
    threads[0].start()
    assert session.leader_sent.wait(HOLD)
    for thread in threads[1:]:
        thread.start()
    session.release.set()
    for thread in threads:
        thread.join(HOLD)
    assert token_gets(emulator) == 1
    assert sorted(r["token_source"] for r in results) == ["cache"] * 3 + ["identity_provider"]


# --- one transport -----------------------------------------------------------------------


def test_managed_identity_transports_are_configured_not_subclassed() -> None:
    from identitylib.aio import _managed_identity as aio_managed_identity

    for module in (_transport, aio_managed_identity):
        for name, value in vars(module).items():
            if inspect.isclass(value) and value is not SyncTransport:
                assert not issubclass(value, SyncTransport), f"{module.__name__}.{name}"


def test_a_cloud_shell_client_error_is_not_throttled_by_the_token_rule(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    """Cloud Shell's request is a form POST: the token requests' throttle (which remembers a
    400 for 60 s) must not apply to it; the managed-identity rule does not remember a 400."""
    clean_env.setenv("AZUREPS_HOST_ENVIRONMENT", "cloud-shell/1.0")
    url = "http://localhost:50342/oauth2/token"
    http.post(url, status=400, json={"error": "invalid_request", "error_description": "x"})
    client = identitylib.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity())
    for _ in range(2):
        assert client.acquire_token_for_client(resource=RESOURCE)["error"] == "invalid_request"
    assert len(http.calls) == 2
