"""A call that joins an identical token request in flight waits for it at most one request's
deadline, then sends its own (blocking API; the asyncio twin is in tests/aio).

The follower's wait is injected: it "times out" at once, so nothing here waits or is timed.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

import identitylib
from identitylib._flows._single_flight import SingleFlight, coalesced
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator

SCOPES = [f"{DEMO_API_URI}/.default"]
#: How long a held request waits to be released: only bounds the test if it goes wrong.
HOLD = 10.0


class HoldingSession(requests.Session):
    """Sends for real, but holds the first token POST until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.leader_sent = threading.Event()
        self.release = threading.Event()

    def post(self, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if str(url).endswith("/token") and not self.leader_sent.is_set():
            self.leader_sent.set()
            self.release.wait(HOLD)
        return super().post(url, *args, **kwargs)


def timed_out(event: threading.Event, seconds: float) -> bool:
    """An injected wait that ends at once, as if ``seconds`` had passed."""
    return event.is_set()


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


def test_a_follower_sends_its_own_request_once_the_leaders_deadline_is_over(
    emulator: Emulator,
) -> None:
    emu = emulator
    limits: list[float] = []

    class App(identitylib.ConfidentialClientApplication):
        def _coalescing(self, limit: float) -> SingleFlight:
            limits.append(limit)
            return SingleFlight(limit, wait=timed_out)

    session = HoldingSession()
    app = App(
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        authority=emu.authority(),
        http_client=session,
        timeout=(30, 40),
        token_cache=identitylib.TokenCache(),
    )
    results: dict[str, Any] = {}
    leader = threading.Thread(
        target=lambda: results.update(leader=app.acquire_token_for_client(SCOPES))
    )
    leader.start()
    try:
        assert session.leader_sent.wait(HOLD)
        follower = app.acquire_token_for_client(SCOPES)  # the leader is still held
        posts_while_held = token_posts(emu)
    finally:
        session.release.set()
        leader.join(HOLD)
    assert posts_while_held == 1  # the follower's own; the leader's is not sent yet
    assert follower["token_source"] == "identity_provider"
    assert results["leader"]["token_source"] == "identity_provider"
    assert token_posts(emu) == 2
    assert limits == [70.0]  # the request deadline of timeout=(30, 40): connect + read


def _cached_or_requested(cache: dict[str, str]) -> Flow[str]:
    """A flow that looks in ``cache`` first, else asks for a token and caches it."""
    if "token" in cache:
        return cache["token"]
    response: HttpResponse = yield HttpRequest("POST", "https://idp.example/token")
    cache["token"] = response.text
    return response.text


def _finish(flow: Flow[str], answer: str) -> str:
    step = next(flow)
    assert isinstance(step, HttpRequest)
    with pytest.raises(StopIteration) as stop:
        flow.send(HttpResponse(200, answer))
    return str(stop.value.value)


def test_a_follower_waits_with_the_limit_then_finds_the_leaders_token() -> None:
    cache: dict[str, str] = {}
    waits: list[float] = []

    def leader_finishes(event: threading.Event, seconds: float) -> bool:
        waits.append(seconds)
        cache["token"] = "from-the-leader"  # what the leader caches while the follower waits
        return True

    flights = SingleFlight(25.0, wait=leader_finishes)
    leader = coalesced(flights, "k", lambda: _cached_or_requested(cache))
    assert isinstance(next(leader), HttpRequest)  # the leader's request is in flight
    follower = coalesced(flights, "k", lambda: _cached_or_requested(cache))
    with pytest.raises(StopIteration) as stop:
        next(follower)
    assert stop.value.value == "from-the-leader"
    assert waits == [25.0]


def test_a_follower_whose_wait_ends_first_makes_its_own_request() -> None:
    cache: dict[str, str] = {}
    flights = SingleFlight(25.0, wait=timed_out)
    leader = coalesced(flights, "k", lambda: _cached_or_requested(cache))
    assert isinstance(next(leader), HttpRequest)
    follower = coalesced(flights, "k", lambda: _cached_or_requested(cache))
    assert _finish(follower, "own") == "own"
    assert len(flights) == 1  # the leader is still in flight, and still leads
    leader.close()
    assert len(flights) == 0
