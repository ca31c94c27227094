"""initiate_device_flow / acquire_token_by_device_flow: the flow dict and the polling schedule.

Polling is tested by driving the flow generator with a fake clock: every ``Wait`` step
advances the clock instead of sleeping, so "pending forever" takes no wall time.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import responses

from identitylib._flows import device_code as device_flow
from identitylib._protocol._messages import HttpRequest, HttpResponse

from .conftest import CLIENT_ID, add_discovery
from .test_silent_support import (
    DEVICE_ENDPOINT,
    TOKEN_ENDPOINT,
    USERNAME,
    Drive,
    FakeClock,
    body_of,
    discovery_answer,
    drive,
    json_response,
    oauth_error,
    public_app,
    user_token,
)

SERVER_FLOW = {
    "user_code": "FRWQDE7YL",
    "device_code": "DAQABAAEAAAD-device",
    "verification_uri": "https://microsoft.com/devicelogin",
    "expires_in": 900,
    "interval": 5,
    "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
    "and enter the code FRWQDE7YL to authenticate.",
}
PENDING = oauth_error("authorization_pending", "AADSTS70016: Authorization is pending.")


@pytest.fixture
def endpoints(http: responses.RequestsMock) -> None:
    add_discovery(http)


def new_flow(clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    flow: dict[str, Any] = {
        **SERVER_FLOW,
        "expires_at": clock.now + 900,
        "_correlation_id": "corr-1",
        **overrides,
    }
    return flow


def run_polling(
    answers: Any,
    clock: FakeClock,
    flow: dict[str, Any],
    **kwargs: Any,
) -> Drive:
    """Poll ``flow`` with the answers (a callable or a list of (status, body); the last
    one repeats forever)."""
    app = public_app()
    app._state.now = clock  # type: ignore[method-assign]
    queue = list(answers) if not callable(answers) else []

    def answer(request: HttpRequest) -> HttpResponse:
        found = discovery_answer(request)
        if found is not None:
            return found
        assert request.url == TOKEN_ENDPOINT
        if callable(answers):
            return answers(request)  # type: ignore[no-any-return]
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return json_response(body, status)

    return drive(
        device_flow.acquire_token_by_device_flow(app._state, flow, **kwargs), answer, clock
    )


# ---------------------------------------------------------------- initiate_device_flow


def test_initiate_request_and_flow_dict(http: responses.RequestsMock, endpoints: None) -> None:
    http.post(DEVICE_ENDPOINT, json=SERVER_FLOW)
    before = time.time()
    flow = public_app().initiate_device_flow(["User.Read"])
    call = http.calls[-1]
    assert call.request.url == DEVICE_ENDPOINT
    assert body_of(call) == {
        "client_id": CLIENT_ID,
        "scope": "User.Read offline_access openid profile",
    }
    assert call.request.headers["client-request-id"] == flow["_correlation_id"]
    assert {k: flow[k] for k in SERVER_FLOW} == SERVER_FLOW
    assert before + 900 <= flow["expires_at"] <= time.time() + 900
    assert set(flow) == {*SERVER_FLOW, "expires_at", "_correlation_id"}
    json.dumps(flow)  # a flow may be kept in a web session


def test_message_synthesized_and_v1_spellings(
    http: responses.RequestsMock, endpoints: None
) -> None:
    http.post(
        DEVICE_ENDPOINT,
        json={
            "user_code": "ABC123",
            "device_code": "dc",
            "verification_url": "https://microsoft.com/devicelogin",
            "expires_in": "900",
            "interval": "5",
        },
    )
    flow = public_app().initiate_device_flow(["User.Read"])
    assert flow["verification_uri"] == "https://microsoft.com/devicelogin"
    assert flow["verification_url"] == "https://microsoft.com/devicelogin"
    assert (flow["expires_in"], flow["interval"]) == (900, 5)
    assert flow["message"] == (
        "To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
        "and enter the code ABC123 to authenticate."
    )


def test_missing_numbers_take_msal_defaults(http: responses.RequestsMock, endpoints: None) -> None:
    http.post(
        DEVICE_ENDPOINT,
        json={"user_code": "U", "device_code": "D", "verification_uri": "https://x/device"},
    )
    flow = public_app().initiate_device_flow(["User.Read"])
    assert (flow["expires_in"], flow["interval"]) == (1800, 5)
    assert "https://x/device" in flow["message"]


def test_absurd_lifetime_is_clamped(http: responses.RequestsMock, endpoints: None) -> None:
    http.post(DEVICE_ENDPOINT, json={**SERVER_FLOW, "expires_in": 10**9})
    flow = public_app().initiate_device_flow(["User.Read"])
    assert flow["expires_in"] == 3600
    assert flow["expires_at"] <= time.time() + 3600


def test_initiate_error_has_no_user_code(http: responses.RequestsMock, endpoints: None) -> None:
    http.post(
        DEVICE_ENDPOINT,
        status=400,
        json=oauth_error("invalid_client", "AADSTS7000218: public client flows not allowed"),
    )
    flow = public_app().initiate_device_flow(["User.Read"])
    assert flow["error"] == "invalid_client"
    assert "user_code" not in flow


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, "<html>sign in</html>"), (500, "oops"), (200, json.dumps({"user_code": "U"}))],
)
def test_initiate_malformed_answers(
    http: responses.RequestsMock, endpoints: None, status: int, body: str
) -> None:
    http.post(DEVICE_ENDPOINT, status=status, body=body)
    flow = public_app().initiate_device_flow(["User.Read"])
    assert flow["error"] == "invalid_response"
    assert "user_code" not in flow


def test_initiate_sends_claims_and_capabilities(
    http: responses.RequestsMock, endpoints: None
) -> None:
    http.post(DEVICE_ENDPOINT, json=SERVER_FLOW)
    app = public_app(client_capabilities=["CP1"])
    app.initiate_device_flow(["User.Read"], claims_challenge='{"access_token":{"acrs":{}}}')
    claims = json.loads(body_of(http.calls[-1])["claims"])
    assert claims == {"access_token": {"acrs": {}, "xms_cc": {"values": ["CP1"]}}}


def test_initiate_without_scopes_asks_oidc_scopes(
    http: responses.RequestsMock, endpoints: None
) -> None:
    http.post(DEVICE_ENDPOINT, json=SERVER_FLOW)
    public_app().initiate_device_flow()
    assert body_of(http.calls[-1])["scope"] == "offline_access openid profile"


def test_reserved_scope_rejected() -> None:
    with pytest.raises(ValueError, match="reserved"):
        public_app().initiate_device_flow(["openid"])


# ---------------------------------------------------------------- polling


def test_poll_request_shape_and_success(http: responses.RequestsMock, endpoints: None) -> None:
    http.post(TOKEN_ENDPOINT, json=user_token())
    app = public_app()
    flow = {**SERVER_FLOW, "expires_at": time.time() + 900, "_correlation_id": "corr-1"}
    result = app.acquire_token_by_device_flow(flow)
    assert result["access_token"] == "at-1"
    assert result["token_source"] == "identity_provider"
    call = http.calls[-1]
    assert body_of(call) == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": CLIENT_ID,
        "device_code": SERVER_FLOW["device_code"],
        "code": SERVER_FLOW["device_code"],
        "client_info": "1",
    }
    assert call.request.headers["client-request-id"] == "corr-1"
    assert "latest_attempt_at" in flow
    (account,) = app.get_accounts()
    assert account["username"] == USERNAME
    assert account["account_source"] == "urn:ietf:params:oauth:grant-type:device_code"


def test_poll_checks_the_id_token(http: responses.RequestsMock, endpoints: None) -> None:
    http.post(TOKEN_ENDPOINT, json=user_token(client_id="someone-else"))
    app = public_app()
    flow = {**SERVER_FLOW, "expires_at": time.time() + 900}
    result = app.acquire_token_by_device_flow(flow)
    assert result["error"] == "invalid_id_token"
    assert app.get_accounts() == []


def test_app_method_sleeps_in_one_second_slices(
    http: responses.RequestsMock, endpoints: None
) -> None:
    clock = FakeClock(time.time())
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    http.post(TOKEN_ENDPOINT, status=400, json=PENDING)
    http.post(TOKEN_ENDPOINT, json=user_token())
    app = public_app()
    app._sleep = fake_sleep  # the pause of the app's driver
    app._state.now = clock  # type: ignore[method-assign]
    flow = new_flow(clock, interval=3)
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result
    assert slept == [1.0, 1.0, 1.0]


def test_interval_zero_polls_once_a_second_until_expiry() -> None:
    clock = FakeClock()
    start = clock.now
    flow = new_flow(clock, interval=0, expires_at=start + 30)
    seen = run_polling([(400, PENDING)], clock, flow)
    assert seen.result["error"] == "authorization_pending"
    times = [t for t, _ in seen.polls]
    assert times == [start + second for second in range(30)]  # at once, then every second
    assert clock.now == flow["expires_at"]


@pytest.mark.parametrize("interval", [-5, "abc", None, "0", 0.2])
def test_unusable_intervals_never_poll_faster_than_once_a_second(interval: Any) -> None:
    clock = FakeClock()
    flow = new_flow(clock, interval=interval, expires_at=clock.now + 20)
    if interval is None:
        del flow["interval"]
    seen = run_polling([(400, PENDING)], clock, flow)
    times = [t for t, _ in seen.polls]
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:]))
    assert len(seen.polls) <= 20 + device_flow.EXTRA_POLLS


def test_pending_forever_stops_at_expiry_with_bounded_requests() -> None:
    clock = FakeClock()
    start = clock.now
    flow = new_flow(clock, interval=5, expires_at=clock.now + 900)
    seen = run_polling([(400, PENDING)], clock, flow)
    assert seen.result["error"] == "authorization_pending"
    assert clock.now - start <= 901
    assert len(seen.polls) <= 900 // 5 + 2
    assert len(seen.waits) <= 901


def test_frozen_clock_still_ends() -> None:
    """Even if time stood still, the number of polls is bounded by the lifetime."""
    clock = FakeClock()
    flow = new_flow(clock, interval=1, expires_at=clock.now + 10)
    app = public_app()
    app._state.now = lambda: clock.now  # type: ignore[method-assign]

    def answer(request: HttpRequest) -> HttpResponse:
        return discovery_answer(request) or json_response(PENDING, 400)

    frozen = FakeClock()
    seen = drive(device_flow.acquire_token_by_device_flow(app._state, flow), answer, frozen)
    assert len(seen.polls) <= 10 + device_flow.EXTRA_POLLS


def test_slow_down_adds_five_seconds() -> None:
    clock = FakeClock()
    flow = new_flow(clock, interval=2)
    answers = [
        (400, PENDING),
        (400, oauth_error("slow_down")),
        (400, PENDING),
        (200, user_token()),
    ]
    seen = run_polling(answers, clock, flow)
    assert "access_token" in seen.result
    times = [t for t, _ in seen.polls]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == [2, 7, 7]
    assert flow["interval"] == 7


def test_terminal_errors_stop_at_once() -> None:
    clock = FakeClock()
    flow = new_flow(clock)
    declined = oauth_error("authorization_declined", "AADSTS65004: declined")
    seen = run_polling([(400, PENDING), (400, declined)], clock, flow)
    assert seen.result["error"] == "authorization_declined"
    assert len(seen.polls) == 2


def test_expired_token_error_is_returned() -> None:
    clock = FakeClock()
    seen = run_polling([(400, oauth_error("expired_token"))], clock, new_flow(clock))
    assert seen.result["error"] == "expired_token"
    assert len(seen.polls) == 1


def test_exit_condition_stops_within_a_second() -> None:
    clock = FakeClock()
    start = clock.now
    flow = new_flow(clock, interval=5)
    seen = run_polling(
        [(400, PENDING)], clock, flow, exit_condition=lambda f: clock.now - start >= 7
    )
    assert seen.result["error"] == "authorization_pending"
    assert len(seen.polls) == 2
    assert 7 <= clock.now - start <= 8


def test_exit_condition_true_polls_once() -> None:
    clock = FakeClock()
    seen = run_polling([(400, PENDING)], clock, new_flow(clock), exit_condition=lambda f: True)
    assert len(seen.polls) == 1
    assert seen.waits == []


def test_expires_at_zero_aborts() -> None:
    """Setting flow["expires_at"] = 0 (e.g. from another thread) stops the polling."""
    clock = FakeClock()
    flow = new_flow(clock, interval=5)
    calls = 0

    def answer(request: HttpRequest) -> HttpResponse:
        nonlocal calls
        calls += 1
        if calls == 2:
            flow["expires_at"] = 0
        return json_response(PENDING, 400)

    seen = run_polling(answer, clock, flow)
    assert seen.result["error"] == "authorization_pending"
    assert len(seen.polls) == 2


def test_already_expired_flow_polls_once_as_msal() -> None:
    clock = FakeClock()
    seen = run_polling([(400, PENDING)], clock, new_flow(clock, expires_at=0))
    assert len(seen.polls) == 1
    assert seen.result["error"] == "authorization_pending"


def test_failed_flow_cannot_be_polled() -> None:
    with pytest.raises(ValueError, match="user_code"):
        public_app().acquire_token_by_device_flow({"error": "invalid_client"})


def test_poll_sends_claims_challenge(http: responses.RequestsMock, endpoints: None) -> None:
    http.post(TOKEN_ENDPOINT, json=user_token())
    flow = {**SERVER_FLOW, "expires_at": time.time() + 900}
    public_app().acquire_token_by_device_flow(flow, claims_challenge='{"id_token":{"x":null}}')
    assert json.loads(body_of(http.calls[-1])["claims"]) == {"id_token": {"x": None}}


def test_transport_errors_propagate(http: responses.RequestsMock, endpoints: None) -> None:
    import requests

    http.post(TOKEN_ENDPOINT, body=requests.ConnectionError("down"))
    flow = {**SERVER_FLOW, "expires_at": time.time() + 900}
    with pytest.raises(requests.ConnectionError):
        public_app().acquire_token_by_device_flow(flow)
