"""IMDS retries: which answers are retried, back-off with jitter, Retry-After, the budget."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Optional, Union

import pytest
import requests
import responses

from identitylib._managed_identity import (
    ManagedIdentityClient,
    SystemAssignedManagedIdentity,
    _sources,
)
from identitylib._managed_identity._context import IMDS_RETRY, FlowContext, ImdsState
from identitylib._managed_identity._identities import describe_identity
from identitylib._managed_identity._imds import imds_flow
from identitylib._managed_identity._response import Outcome
from identitylib._managed_identity._sources import ImdsConfig
from identitylib._protocol._messages import WAITED, HttpRequest, HttpResponse, Wait
from identitylib._transport._policy import parse_retry_after

IMDS = "http://169.254.169.254/metadata/identity/oauth2/token"
TOKEN = json.dumps({"access_token": "at", "expires_in": "3600", "resource": "r"})


class Clock:
    """A monotonic clock that only moves when the flow waits (or a request 'takes' time)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def context(clock: Clock, *, answered: bool = True, **kwargs: Any) -> FlowContext:
    return FlowContext(
        identity=describe_identity(SystemAssignedManagedIdentity()),
        resource="r",
        imds_state=ImdsState(answered=answered),
        monotonic=clock,
        uniform=lambda low, high: 1.0,
        **kwargs,
    )


Answer = Union[HttpResponse, Exception]


def drive(
    answers: list[Answer], ctx: FlowContext, clock: Clock, request_seconds: float = 0.0
) -> tuple[Optional[Outcome], list[float], int, Optional[Exception]]:
    """Run the IMDS flow: (outcome, waits, requests made, exception raised)."""
    flow = imds_flow(ImdsConfig(IMDS), ctx)
    waits: list[float] = []
    requests_made = 0
    try:
        step = next(flow)
        while True:
            if isinstance(step, Wait):
                waits.append(step.seconds)
                clock.now += step.seconds
                step = flow.send(WAITED)
                continue
            assert isinstance(step, HttpRequest)
            requests_made += 1
            clock.now += request_seconds
            answer = answers.pop(0)
            step = flow.throw(answer) if isinstance(answer, Exception) else flow.send(answer)
    except StopIteration as stop:
        return stop.value, waits, requests_made, None
    except Exception as exc:
        return None, waits, requests_made, exc


def status(code: int, headers: Optional[dict[str, str]] = None) -> HttpResponse:
    body = json.dumps({"error": "e", "error_description": f"HTTP {code}"})
    return HttpResponse(code, body, headers or {})


OK = HttpResponse(200, TOKEN)


@pytest.mark.parametrize("code", [404, 410, 429, 500, 502, 503, 504])
def test_transient_answers_are_retried(code: int) -> None:
    clock = Clock()
    outcome, waits, made, _ = drive([status(code), status(code), OK], context(clock), clock)
    assert outcome is not None
    assert outcome.result["access_token"] == "at"
    assert waits == [0.5, 1.0]
    assert made == 3


@pytest.mark.parametrize("code", [400, 401, 403, 405])
def test_client_errors_are_not_retried(code: int) -> None:
    clock = Clock()
    outcome, waits, made, _ = drive([status(code)], context(clock), clock)
    assert outcome is not None
    assert outcome.status == code
    assert outcome.result["error"] == "e"
    assert (waits, made) == ([], 1)


def test_attempts_are_bounded() -> None:
    clock = Clock()
    outcome, waits, made, _ = drive([status(503)] * 10, context(clock), clock)
    assert outcome is not None
    assert outcome.status == 503
    assert made == IMDS_RETRY.retries + 1 == 5
    assert waits == [0.5, 1.0, 2.0, 4.0]
    assert sum(waits) <= IMDS_RETRY.budget


def test_jitter_stays_within_its_band() -> None:
    def wait(attempt: int, uniform: Any = None) -> float:
        extra = {} if uniform is None else {"uniform": uniform}
        decision = IMDS_RETRY.after_response("GET", 503, {}, attempt, **extra)
        assert decision.retry
        return decision.wait

    for attempt in range(1, 5):
        low = wait(attempt, lambda a, b: a)
        high = wait(attempt, lambda a, b: b)
        base = min(IMDS_RETRY.max_backoff, IMDS_RETRY.backoff * 2 ** (attempt - 1))
        assert low == pytest.approx(base)
        assert high == pytest.approx(base * 1.2)
        assert low <= wait(attempt) <= high


def test_slow_requests_count_against_the_budget() -> None:
    clock = Clock()
    outcome, waits, made, _ = drive([status(500)] * 10, context(clock), clock, request_seconds=3.0)
    assert outcome is not None
    # 3 s + 0.5 + 3 s + 1.0 + 3 s = 10.5 s: a third wait would overrun the 10 s budget
    assert waits == [0.5, 1.0]
    assert made == 3


def test_retry_after_is_honoured() -> None:
    clock = Clock()
    throttled = status(429, {"retry-after": "3"})
    outcome, waits, _, _ = drive([throttled, OK], context(clock), clock)
    assert outcome is not None
    assert "access_token" in outcome.result
    assert waits == [3.0]


def test_retry_after_beyond_the_budget_ends_the_retries() -> None:
    clock = Clock()
    throttled = status(429, {"retry-after": "30"})
    outcome, waits, made, _ = drive([throttled, OK], context(clock), clock)
    assert outcome is not None
    assert outcome.status == 429
    assert outcome.headers["retry-after"] == "30"
    assert (waits, made) == ([], 1)


def test_gone_is_retried_within_the_budget_not_seventy_seconds() -> None:
    clock = Clock()
    outcome, waits, _, _ = drive([status(410)] * 10, context(clock), clock)
    assert outcome is not None
    assert outcome.status == 410
    assert sum(waits) <= 10


def test_a_larger_budget_waits_longer() -> None:
    clock = Clock()
    policy = dataclasses.replace(IMDS_RETRY, retries=19, budget=70.0, max_backoff=10.0)
    ctx = context(clock, imds_retry=policy)
    _, waits, made, _ = drive([status(410)] * 30, ctx, clock)
    assert 60 < sum(waits) <= 70
    assert made > 5


def test_connection_errors_before_imds_ever_answered_fail_fast() -> None:
    clock = Clock()
    ctx = context(clock, answered=False)
    outcome, waits, made, exc = drive([requests.ConnectTimeout("off azure")], ctx, clock)
    assert outcome is None
    assert isinstance(exc, requests.ConnectTimeout)
    assert (waits, made) == ([], 1)


def test_connection_errors_are_retried_once_imds_has_answered() -> None:
    clock = Clock()
    ctx = context(clock, answered=False)
    outcome, _, _, _ = drive([OK], ctx, clock)
    assert ctx.imds_state.answered
    answers: list[Answer] = [requests.ConnectionError("restarting"), status(503), OK]
    outcome, waits, made, exc = drive(answers, ctx, clock)
    assert exc is None
    assert outcome is not None
    assert "access_token" in outcome.result
    assert (waits, made) == ([0.5, 1.0], 3)


def test_connection_errors_give_up_eventually() -> None:
    clock = Clock()
    ctx = context(clock)
    _, waits, made, exc = drive([requests.ConnectionError("down")] * 10, ctx, clock)
    assert isinstance(exc, requests.ConnectionError)
    assert made == 5
    assert waits == [0.5, 1.0, 2.0, 4.0]


def test_each_attempt_has_its_own_request_id() -> None:
    clock = Clock()
    ctx = context(clock)
    flow = imds_flow(ImdsConfig(IMDS), ctx)
    first = next(flow)
    assert isinstance(first, HttpRequest)
    assert isinstance(flow.send(status(500)), Wait)
    second = flow.send(WAITED)
    assert isinstance(second, HttpRequest)
    assert first.headers["x-ms-client-request-id"] != second.headers["x-ms-client-request-id"]
    flow.close()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5", 5.0), (" 7 ", 7.0), ("-3", 0.0), ("soon", None), (None, None)],
)
def test_parse_retry_after(value: Optional[str], seconds: Optional[float]) -> None:
    assert parse_retry_after(value, time.time()) == seconds


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after("Thu, 01 Jan 2099 00:00:10 GMT", 4070908800.0) == 10.0


def test_client_retries_with_the_injected_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    slept: list[float] = []
    with responses.RequestsMock() as mock:
        mock.get(IMDS, status=503, json={"error": "busy"})
        mock.get(IMDS, status=503, json={"error": "busy"})
        mock.get(IMDS, json=json.loads(TOKEN))
        client = ManagedIdentityClient(SystemAssignedManagedIdentity())
        client._state.sleep = slept.append
        result = client.acquire_token_for_client(resource="https://r")
        assert result["access_token"] == "at"
        assert len(mock.calls) == 3
    assert len(slept) == 2
    assert 0.4 <= slept[0] <= 0.6
    assert 0.8 <= slept[1] <= 1.2
