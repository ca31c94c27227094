"""Single-flight per cache key: concurrent identical misses share one token request.

Functional tests only (request counts, results) against the emulator; nothing here is
timed.
"""

from __future__ import annotations

import json
import threading
import warnings
from typing import Any, Optional

from identitylib import ConfidentialClientApplication, PublicClientApplication
from identitylib._flows._single_flight import SingleFlight
from identitylib.emulator import (
    DEMO_API2_URI,
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
)
from identitylib.emulator._config import GRAPH_APP_ID, GRAPH_URI
from tests._idp import token_posts

from ._apps import ALICE, user_assertion

GRAPH_SCOPES = [f"{GRAPH_URI}/User.Read"]

#: Seconds the emulator waits before each answer: keeps the leader's request in flight
#: while the other threads arrive (only widens the window; nothing is timed).
LATENCY = 0.05
SCOPE = [f"{DEMO_API_URI}/.default"]
#: Two scopes of the demo API and one each of three other resources: five cache keys.
FIVE_SCOPES = [
    f"{DEMO_API_URI}/.default",
    f"{DEMO_API_ID}/.default",
    f"{GRAPH_URI}/.default",
    f"{GRAPH_APP_ID}/.default",
    f"{DEMO_API2_URI}/.default",
]


def daemon(emu: Emulator, secret: str = DEMO_DAEMON_SECRET) -> ConfidentialClientApplication:
    return ConfidentialClientApplication(DEMO_DAEMON_ID, secret, authority=emu.authority())


def middle_tier(emu: Emulator) -> ConfidentialClientApplication:
    return ConfidentialClientApplication(DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority())


def _stampede(call: Any, threads: int = 50) -> list[Any]:
    barrier = threading.Barrier(threads)
    results: list[Optional[Any]] = [None] * threads

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = call()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def test_fifty_threads_on_a_cold_cache_send_one_token_request(emulator: Emulator) -> None:
    app = daemon(emulator)
    emulator.faults.latency = LATENCY
    results = _stampede(lambda: app.acquire_token_for_client(SCOPE))
    assert token_posts(emulator) == 1
    assert len({r["access_token"] for r in results}) == 1
    sources = sorted(r["token_source"] for r in results)
    assert sources.count("identity_provider") == 1
    assert sources.count("cache") == 49
    assert len(app._flights) == 0


def test_different_scopes_are_not_coalesced(emulator: Emulator) -> None:
    app = daemon(emulator)
    emulator.faults.latency = LATENCY
    barrier = threading.Barrier(len(FIVE_SCOPES))
    results: list[dict[str, Any]] = []

    def worker(scope: str) -> None:
        barrier.wait()
        results.append(app.acquire_token_for_client([scope]))

    pool = [threading.Thread(target=worker, args=(s,)) for s in FIVE_SCOPES]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert all("access_token" in r for r in results), results
    assert len(results) == 5
    assert token_posts(emulator) == 5


def test_claims_challenge_is_never_coalesced(emulator: Emulator) -> None:
    app = daemon(emulator)
    emulator.faults.latency = LATENCY
    claims = json.dumps({"access_token": {"nbf": {"essential": True, "value": "1"}}})
    results = _stampede(
        lambda: app.acquire_token_for_client(SCOPE, claims_challenge=claims), threads=4
    )
    assert all("access_token" in r for r in results), results
    assert token_posts(emulator) == 4


def test_followers_try_again_themselves_when_the_leader_failed(emulator: Emulator) -> None:
    app = daemon(emulator, secret="not-the-secret")  # Entra: 401 invalid_client
    emulator.faults.latency = LATENCY
    results = _stampede(lambda: app.acquire_token_for_client(SCOPE), threads=8)
    assert all(r.get("error") == "invalid_client" for r in results)
    # The followers tried again (one post each at most): sharing the failure would be one post.
    assert 2 <= token_posts(emulator) <= 8
    assert len(app._flights) == 0


def test_on_behalf_of_stampede_sends_one_request(emulator: Emulator) -> None:
    assertion = user_assertion(emulator)
    app = middle_tier(emulator)
    emulator.reset_requests()
    emulator.faults.latency = LATENCY
    results = _stampede(lambda: app.acquire_token_on_behalf_of(assertion, GRAPH_SCOPES))
    assert token_posts(emulator) == 1
    assert all("access_token" in r for r in results), results[0]


def test_a_lookup_that_straddles_the_leaders_write_is_redone(emulator: Emulator) -> None:
    """Caller B's access-token lookup misses while leader A waits for its response; A then
    caches the tokens and leaves before B joins: B must look again, not redeem the
    refresh token A just cached (it did, once in a long run: two requests)."""
    a_done = threading.Event()
    assertion = user_assertion(emulator)
    app = middle_tier(emulator)
    emulator.reset_requests()
    emulator.faults.hold(path_contains="/token")  # A's request waits at the emulator
    cache = app.token_cache
    real_search = cache.search

    def search(credential_type: str, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "B" and credential_type == "RefreshToken":
            assert a_done.wait(5)  # B is preempted between its two lookups
        found = list(real_search(credential_type, *args, **kwargs))
        if threading.current_thread().name == "B" and credential_type == "AccessToken":
            emulator.faults.release()  # B's access-token lookup missed: A is answered
        return iter(found)

    cache.search = search  # type: ignore[method-assign]
    results: dict[str, Any] = {}

    def call(name: str) -> None:
        results[name] = app.acquire_token_on_behalf_of(assertion, GRAPH_SCOPES)
        if name == "A":
            a_done.set()

    a = threading.Thread(target=call, args=("A",), name="A")
    a.start()
    b = threading.Thread(target=call, args=("B",), name="B")
    b.start()
    a.join(10)
    b.join(10)
    assert token_posts(emulator) == 1  # A's on-behalf-of request; B sent none
    assert results["A"]["token_source"] == "identity_provider"
    assert results["B"]["token_source"] == "cache"
    assert results["B"]["access_token"] == results["A"]["access_token"]


def test_single_flight_leader_and_followers() -> None:
    flights = SingleFlight(25.0)
    leader, flight = flights.join("k")
    follower, same = flights.join("k")
    assert leader
    assert not follower
    assert same is flight
    assert flight.event is not None
    flights.leave("k", flight)
    assert flight.event.is_set()
    assert len(flights) == 0


def test_a_leader_without_followers_makes_no_event() -> None:
    """The usual miss has no follower: its flight makes no ``threading.Event`` (a lock and a
    condition per token request, for nobody to wait on); the first follower makes it."""
    flights = SingleFlight(25.0)
    leader, flight = flights.join("k")
    flights.leave("k", flight)
    assert leader
    assert flight.event is None
    assert len(flights) == 0
    leader, flight = flights.join("k")
    follower, same = flights.join("k")
    flights.leave("k", flight)
    assert (leader, follower) == (True, False)
    assert same.event is not None
    assert same.event.is_set()


class _LeavingFirst:
    """A followers' lock whose taking lets the leader leave first: the window between a
    follower finding the flight and making its event, in which the leader may leave."""

    def __init__(self, leave: Any) -> None:
        self.leave = leave

    def __enter__(self) -> None:
        self.leave()

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_leader_joins_and_leaves_without_a_lock() -> None:
    """A key's leader (the usual, lone miss) takes no lock to join or to leave: its
    flight is filed and taken out with one dict step each; only followers lock (to make
    the one event of a flight)."""
    flights = SingleFlight(25.0)
    taken: list[str] = []

    class Counting:
        def __enter__(self) -> None:
            taken.append("lock")

        def __exit__(self, *exc: object) -> None:
            return None

    flights._lock = Counting()  # type: ignore[assignment]
    ended = flights.ended
    leader, flight = flights.join("k")
    flights.leave("k", flight)
    assert leader
    assert taken == []
    assert flights.ended is not ended  # (a flight ended since the note: told)
    assert len(flights) == 0


def test_a_follower_whose_leader_left_before_its_event_waits_for_nothing() -> None:
    """A follower that found the flight, but whose leader left before the follower's
    event was made (so the leader could not set it), finds its event set: it does not
    wait its limit for a leader that is gone."""
    waited: list[float] = []

    def wait(event: threading.Event, limit: float) -> bool:
        waited.append(limit)
        return event.is_set()

    flights = SingleFlight(25.0, wait=wait)
    leader, flight = flights.join("k")
    flights._lock = _LeavingFirst(lambda: flights.leave("k", flight))  # type: ignore[assignment]
    follower, same = flights.join("k")
    assert (leader, follower) == (True, False)
    assert same is flight
    assert same.event is not None
    assert same.event.is_set()
    assert flights.follow(same)
    assert len(flights) == 0


def test_silent_refresh_stampede_sends_one_request(emulator: Emulator) -> None:
    """Twenty threads want a token for another API of a signed-in account: one redeems the
    refresh token, the others get what it cached."""
    app = PublicClientApplication(DEMO_CLI_ID, authority=emulator.authority())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        signed_in = app.acquire_token_by_username_password(*ALICE, GRAPH_SCOPES)
    assert "access_token" in signed_in, signed_in
    (account,) = app.get_accounts()
    emulator.reset_requests()
    emulator.faults.latency = LATENCY
    api_scopes = [f"{DEMO_API_URI}/access_as_user"]
    results = _stampede(lambda: app.acquire_token_silent(api_scopes, account), threads=20)
    assert all(r is not None and "access_token" in r for r in results)
    assert token_posts(emulator) == 1
