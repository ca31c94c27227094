"""Fault injection at the HTTP level: latency and injected failures, against a fake model."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from identitylib.emulator import DEMO_TENANT_ID as T

from .server_fakes import TIMEOUT, FakeEmulator, small_config

TOKEN = f"/{T}/oauth2/v2.0/token"
KEYS = f"/{T}/discovery/v2.0/keys"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeEmulator]:
    with FakeEmulator(small_config()) as emu:
        yield emu


@pytest.fixture
def emu(server: FakeEmulator) -> Iterator[FakeEmulator]:
    server.fake.reset()
    server.faults.reset()
    server.reset_requests()
    yield server
    server.faults.reset()


def call(emu: FakeEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    return requests.request(method, emu.base_url + path, **kwargs)


def test_latency_delays_every_answer(emu: FakeEmulator) -> None:
    emu.faults.latency = 30  # far beyond the client's read timeout below
    with pytest.raises(requests.ReadTimeout):
        call(emu, "GET", KEYS, timeout=(TIMEOUT, 0.3))
    emu.faults.latency = 0
    assert call(emu, "GET", KEYS).status_code == 200


def test_a_held_request_is_answered_once_released(emu: FakeEmulator) -> None:
    emu.faults.hold(path_contains="/token")
    answers: list[int] = []
    thread = threading.Thread(
        target=lambda: answers.append(call(emu, "POST", TOKEN, data={"a": "b"}).status_code)
    )
    thread.start()
    for _ in range(500):  # bounded: the request reaches the emulator
        if emu.faults.holding:
            break
        time.sleep(0.01)
    assert emu.faults.holding == 1
    assert call(emu, "GET", KEYS).status_code == 200  # other paths are not held
    assert answers == []
    emu.faults.release()
    thread.join(TIMEOUT)
    assert answers == [200]
    assert emu.faults.holding == 0


def test_injected_503_with_retry_after(emu: FakeEmulator) -> None:
    emu.faults.inject(503, retry_after=7)
    response = call(emu, "POST", TOKEN, data={"a": "b"}, headers={"client-request-id": "c-1"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    body = response.json()
    assert body["error"] == "temporarily_unavailable"
    assert body["error_codes"] == [50033]
    assert body["correlation_id"] == "c-1"
    assert body["trace_id"] == response.headers["x-ms-request-id"]
    assert body["error_description"].startswith("AADSTS50033: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert body["error_uri"] == f"{emu.base_url}/error?code=50033"
    assert emu.fake.calls == []
    assert emu.requests == [("POST", TOKEN)]
    assert call(emu, "POST", TOKEN, data={"a": "b"}).status_code == 200


def test_injected_429_counts_and_path_filter(emu: FakeEmulator) -> None:
    emu.faults.inject(429, count=2, path_contains="/token", retry_after=1)
    assert call(emu, "GET", KEYS).status_code == 200
    first = call(emu, "POST", TOKEN, data={"a": "b"})
    second = call(emu, "POST", TOKEN, data={"a": "b"})
    third = call(emu, "POST", TOKEN, data={"a": "b"})
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "1"
    assert first.json()["error_codes"] == [90055]
    assert "Retry-After" not in third.headers
    assert [name for name, _ in emu.fake.calls] == ["jwks", "token"]


def test_injected_500_is_server_error_without_retry_after(emu: FakeEmulator) -> None:
    emu.faults.inject(500)
    response = call(emu, "GET", KEYS)
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "Retry-After" not in response.headers


def test_injected_body_and_text(emu: FakeEmulator) -> None:
    emu.faults.inject(400, body={"error": "invalid_grant", "suberror": "bad_token"})
    emu.faults.inject(502, text="<html>bad gateway</html>")
    custom = call(emu, "POST", TOKEN, data={"a": "b"})
    assert custom.status_code == 400
    assert custom.json() == {"error": "invalid_grant", "suberror": "bad_token"}
    text = call(emu, "POST", TOKEN, data={"a": "b"})
    assert text.status_code == 502
    assert text.text == "<html>bad gateway</html>"
    assert text.headers["Content-Type"].startswith("text/plain")


def test_injected_failures_on_managed_identity_paths_keep_their_shape(
    emu: FakeEmulator,
) -> None:
    emu.faults.inject(500, path_contains="/msi/token")
    emu.faults.inject(503, path_contains="/metadata/identity")
    app_service = call(emu, "GET", "/msi/token", params={"api-version": "2019-08-01"})
    assert app_service.status_code == 500
    assert app_service.json()["statusCode"] == 500
    imds = call(emu, "GET", "/metadata/identity/oauth2/token", headers={"Metadata": "true"})
    assert imds.status_code == 503
    assert imds.json()["error"] == "temporarily_unavailable"


def test_reset_clears_injected_failures(emu: FakeEmulator) -> None:
    emu.faults.inject(503, count=5)
    emu.faults.reset()
    assert call(emu, "GET", KEYS).status_code == 200


def test_stop_is_not_held_up_by_latency() -> None:
    emu = FakeEmulator(small_config()).start()
    emu.faults.latency = 30
    outcome: list[Any] = []

    def slow() -> None:
        try:
            outcome.append(requests.get(f"{emu.base_url}{KEYS}", timeout=TIMEOUT).status_code)
        except requests.RequestException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not emu.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    emu.stop()  # cuts the 30-second latency short: the client is answered at once
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert outcome
    assert outcome[0] != 200
    assert emu.fake.calls == []
