"""The retry rule, the body cap and the deadline: sans-I/O units, then both transports.

Time is a fake clock wherever a test needs to know it; the live-server tests count requests
and name the error, never measure how long something took.
"""

from __future__ import annotations

import math
import tracemalloc
from typing import Any, Optional

import pytest

from identitylib._protocol._messages import HttpRequest
from identitylib._protocol._request import token_request
from identitylib._protocol._token_response import TRUNCATED_HEADER
from identitylib._transport._bounds import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    BodyReader,
    Deadline,
    Fed,
    deadline_for,
)
from identitylib._transport._policy import DEFAULT_RETRY_POLICY, RetryPolicy

from ._apis import Api
from ._hostile import HostileServer, Reply

SECRET = "hostile-client-secret-value"
SCOPE = ["api://hostile/.default"]


class FakeClock:
    """A monotonic clock that moves only when told, or by ``step`` on every reading."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def no_jitter(low: float, high: float) -> float:
    return low


# ------------------------------------------------------------------ defaults that end


def test_default_settings_end_every_request_within_30_seconds() -> None:
    connect, read = DEFAULT_TIMEOUT
    assert deadline_for(None) == DEFAULT_DEADLINE  # no timeout= given
    assert DEFAULT_DEADLINE < 30
    # One attempt cannot outlive the deadline, nor a retry start after it.
    assert max(connect, read) <= DEFAULT_DEADLINE
    clock = FakeClock()
    deadline = Deadline.after(DEFAULT_DEADLINE, clock)
    clock.now += DEFAULT_DEADLINE - 1.0
    decision = DEFAULT_RETRY_POLICY.after_response(
        "POST", 503, {"Retry-After": "5"}, 1, time_left=deadline.left()
    )
    assert not decision.retry
    assert deadline.timeout(DEFAULT_TIMEOUT) == (1.0, 1.0)


def test_an_apps_longer_timeout_gets_a_longer_deadline() -> None:
    assert deadline_for(60) == 120
    assert deadline_for((1, 1)) == DEFAULT_DEADLINE


@pytest.mark.parametrize("api_name", ["sync", "async"])
def test_apps_use_the_default_bounds(api_name: str) -> None:
    api = Api(api_name)
    app = api.cca("c", SECRET, oidc_authority="http://127.0.0.1:9/t")
    transport = api.transport(app)
    assert transport._deadline == DEFAULT_DEADLINE


# ------------------------------------------------------------------ the deadline


def test_deadline_counts_down_on_its_clock() -> None:
    clock = FakeClock()
    deadline = Deadline.after(10.0, clock)
    assert deadline.left() == 10.0
    clock.now += 4.0
    assert deadline.left() == 6.0
    assert deadline.timeout((10.0, 20.0)) == (6.0, 6.0)
    assert deadline.timeout((2.0, 3.0)) == (2.0, 3.0)
    assert deadline.body_until(3.0) == clock.now + 3.0
    assert deadline.body_until(30.0) == deadline.at
    clock.now += 100.0
    assert deadline.left() == 0.0
    connect, read = deadline.timeout((10.0, 20.0))  # type: ignore[misc]
    assert 0 < connect < 0.01  # a sliver: the library's own timeout error fires
    assert 0 < read < 0.01


def test_no_deadline_leaves_timeouts_alone() -> None:
    deadline = Deadline.after(None)
    assert math.isinf(deadline.left())
    assert deadline.timeout((1.0, 2.0)) == (1.0, 2.0)
    assert deadline.cap(None) is None


# ------------------------------------------------------------------ the body reader


def test_body_reader_cuts_at_max_body_and_marks_the_response() -> None:
    reader = BodyReader(max_body=10)
    assert reader.feed(b"12345") is Fed.MORE
    assert reader.feed(b"678901234") is Fed.FULL
    response = reader.response(200, {"Content-Type": "application/json"}, "utf-8")
    assert response.text == "1234567890"
    assert response.headers[TRUNCATED_HEADER] == "10"
    assert response.headers["content-type"] == "application/json"


def test_body_reader_refuses_a_servers_truncation_claim() -> None:
    reader = BodyReader(max_body=10)
    reader.feed(b"{}")
    response = reader.response(200, [(TRUNCATED_HEADER, "1")], None)
    assert TRUNCATED_HEADER not in response.headers
    assert response.text == "{}"


def test_body_reader_says_late_after_its_moment() -> None:
    clock = FakeClock(step=0.1)  # every piece arrives 0.1 s after the last
    reader = BodyReader(max_body=1 << 20, until=clock.now + 1.0, clock=clock)
    fed = [reader.feed(b"x") for _ in range(20)]
    assert Fed.LATE in fed
    assert fed.index(Fed.LATE) <= 10


def test_body_reader_decodes_unknown_charsets_as_utf8() -> None:
    reader = BodyReader(max_body=100)
    reader.feed("é".encode())
    assert reader.response(200, {}, "no-such-charset").text == "é"


# ------------------------------------------------------------------ the retry rule


def one_time_request() -> HttpRequest:
    fields = {"grant_type": "refresh_token", "refresh_token": "r"}
    return token_request("https://idp/token", fields, {})


def test_token_requests_know_their_one_time_credentials() -> None:
    assert one_time_request().one_time
    code = {"grant_type": "authorization_code", "code": "c"}
    assert token_request("https://idp/token", code, {}).one_time
    device = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "code": "dc"}
    assert not token_request("https://idp/token", device, {}).one_time
    assert not token_request("https://idp/token", {"grant_type": "client_credentials"}, {}).one_time
    assert not HttpRequest("GET", "https://idp/.well-known/openid-configuration").one_time


@pytest.mark.parametrize("one_time", [False, True])
def test_an_error_before_sending_is_always_retried(one_time: bool) -> None:
    decision = DEFAULT_RETRY_POLICY.after_error("POST", "connect", 1, one_time=one_time)
    assert decision.retry


@pytest.mark.parametrize(("one_time", "retried"), [(False, True), (True, False)])
def test_a_dropped_connection_is_retried_only_without_one_time_credentials(
    one_time: bool, retried: bool
) -> None:
    decision = DEFAULT_RETRY_POLICY.after_error("POST", "dropped", 1, one_time=one_time)
    assert decision.retry is retried


@pytest.mark.parametrize("kind", ["read", "other"])
def test_read_timeouts_and_other_errors_are_never_retried(kind: Any) -> None:
    assert not DEFAULT_RETRY_POLICY.after_error("POST", kind, 1).retry


@pytest.mark.parametrize(
    ("status", "headers", "one_time", "retried"),
    [
        (500, {}, False, True),
        (500, {}, True, False),
        (502, {"Retry-After": "1"}, True, False),  # only 429/503 say "not acted on"
        (503, {}, True, False),
        (503, {"Retry-After": "1"}, True, True),
        (429, {}, True, False),
        (429, {"Retry-After": "0"}, True, True),
        (429, {}, False, True),
        (400, {}, False, False),
    ],
)
def test_statuses_follow_the_one_time_rule(
    status: int, headers: dict[str, str], one_time: bool, retried: bool
) -> None:
    decision = DEFAULT_RETRY_POLICY.after_response(
        "POST", status, headers, 1, one_time=one_time, uniform=no_jitter
    )
    assert decision.retry is retried, decision.reason


def test_no_retry_that_the_deadline_cannot_hold() -> None:
    policy = RetryPolicy(backoff=1.0, jitter=0.0)
    assert policy.after_error("POST", "connect", 1, time_left=10.0).retry
    assert not policy.after_error("POST", "connect", 1, time_left=1.2).retry
    assert not policy.after_response("GET", 503, {"Retry-After": "9"}, 1, time_left=5.0).retry
    assert policy.after_response("GET", 503, {"Retry-After": "2"}, 1, time_left=5.0).retry


# ------------------------------------------------------------------ both transports, live


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Api:
    return Api(request.param)


def cca(api: Api, server: HostileServer, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", (1.0, 1.0))
    return api.cca("hostile-client", SECRET, oidc_authority=server.issuer, **kwargs)


def bounded(api: Api, app: Any, *, deadline: Optional[float] = None, clock: Any = None) -> Any:
    """The app's transport with a test deadline and clock (the real ones are wall time)."""
    transport = api.transport(app)
    if deadline is not None:
        transport._deadline = deadline
    if clock is not None:
        transport._clock = clock
    return transport


def test_retry_after_beyond_the_deadline_is_not_waited_for(
    api: Api, hostile: HostileServer
) -> None:
    hostile.routes[hostile.token_path] = [
        Reply(503, {"error": "busy"}, {"Retry-After": "3"}),
        Reply(body={"access_token": "late", "expires_in": 3600}),
    ]
    app = cca(api, hostile)
    bounded(api, app, deadline=2.0)
    result = api.call(app, "acquire_token_for_client", SCOPE)
    assert result["error"] == "busy"
    assert len(hostile.token_requests()) == 1


def test_dripped_body_ends_at_the_deadline_on_the_transports_clock(
    api: Api, hostile: HostileServer
) -> None:
    # The server drips a byte every 10 ms, far inside the read timeout of every socket
    # read; the body's own bound (here a clock racing 1 s per reading) ends it.
    body = {"access_token": "x" * 400, "expires_in": 3600}
    hostile.routes[hostile.token_path] = Reply(body=body, drip=0.01)
    app = cca(api, hostile, timeout=(5.0, 5.0))
    bounded(api, app, clock=FakeClock(step=1.0))
    with pytest.raises(api.timeout_error):
        api.call(app, "acquire_token_for_client", SCOPE)
    assert len(hostile.token_requests()) == 1  # a read timeout is not retried


def test_headers_then_a_stall_is_a_timeout_not_retried(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.token_path] = Reply(
        body={"access_token": "never", "expires_in": 3600}, partial=5, stall=3.0
    )
    app = cca(api, hostile, timeout=(1.0, 0.5))
    with pytest.raises(api.timeout_error):
        api.call(app, "acquire_token_for_client", SCOPE)
    assert len(hostile.token_requests()) == 1


def test_a_huge_body_is_never_held_in_memory(api: Api, hostile: HostileServer) -> None:
    huge = b'{"access_token": "' + b"a" * (30 << 20) + b'", "expires_in": 3600}'
    hostile.routes[hostile.token_path] = Reply(body=huge)
    app = cca(api, hostile, timeout=(5.0, 10.0))
    tracemalloc.start()
    try:
        result = api.call(app, "acquire_token_for_client", SCOPE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["error"] == "invalid_response"
    assert "larger than" in result["error_description"]
    assert peak < 8 << 20  # the 30 MB body was cut at 1 MiB, not read whole
    assert list(app.token_cache.search("AccessToken")) == []
