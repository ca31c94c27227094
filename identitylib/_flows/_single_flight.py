"""Single-flight per cache key: concurrent identical misses share one token request.

The sync application layer wraps a flow with :func:`coalesced`, or lets the blocking driver
join the flight itself (``run_sync(flights=...)``); both start the flow through
:func:`joined`. A flow that finishes without yielding (a cache hit) joins nothing. A flow that
needs I/O (a miss, a refresh, a discovery) first joins the app's :class:`SingleFlight`
for its key: the first caller (the leader) goes on and sends the request; callers that
arrive while it is in flight (followers) drop their own flow, wait for the leader to
finish, then run a fresh flow, which normally finds the token the leader cached. If the
leader failed, each follower makes its own attempt, as it would have without coalescing.

A follower never waits without a bound: at most ``limit`` seconds (the app's request
deadline, see ``_transport/_bounds.py``). A leader still in flight by then is left to
finish on its own, and the follower makes its own attempt, as it would have without
coalescing. The wait itself is injected (``wait``), so tests need no clock.

:class:`SingleFlight` is one :class:`Coalescing` strategy; :data:`NO_COALESCING` is the
other (every flow runs as it is), for a caller that coalesces by other means (the asyncio
API does it on its event loop, where a thread's wait would block the loop).

A caller's cache lookup runs before it joins, so it may straddle a leader's cache write
(e.g. OBO: access token missed, then the refresh token found) or predate it; if that
leader has left by the time the caller joins, the caller leads with a stale lookup. So a
new leader that sees a flight ended since its lookup began starts its flow afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Hashable
from typing import Any, Optional, Protocol, TypeVar

from identitylib._log import get_logger
from identitylib._protocol._messages import Flow

logger = get_logger(__name__)
T = TypeVar("T")

#: Waits for an event at most some seconds; True when it was set (``threading.Event.wait``).
EventWait = Callable[[threading.Event, float], bool]


class Coalescing(Protocol):
    """How an application runs flows that concurrent identical calls could share."""

    def coalesce(self, key: Hashable, make_flow: Callable[[], Flow[T]]) -> Flow[T]:
        """A flow doing what ``make_flow()`` does, its I/O possibly shared under ``key``."""
        ...


class NoCoalescing:
    """Every call runs its own flow (the caller coalesces by other means, if at all)."""

    def coalesce(self, key: Hashable, make_flow: Callable[[], Flow[T]]) -> Flow[T]:
        return make_flow()


NO_COALESCING = NoCoalescing()


class Flight:
    """One key's I/O in flight. Its followers wait on ``event``, made by the first of them
    (under the followers' lock): a leader alone, the usual case, makes none. (No __init__:
    a leader's flight is made without a frame of ours; ``event`` reads None until set.)"""

    event: Optional[threading.Event] = None


class SingleFlight:
    """Keys whose I/O is in flight, each with the :class:`Flight` its followers wait on.

    A follower waits at most ``limit`` seconds (``inf``: unbounded) with ``wait``.

    A leader takes no lock (a caller alone, the usual miss): it files its flight with
    one ``dict.setdefault`` (atomic: a key's first caller alone finds its own flight
    filed), and when it leaves, takes it out, marks the flights' ``ended`` with it (one
    attribute store) and then sets the event its followers made, if any. Followers make
    that event under a lock of their own (one event per flight) and look again
    afterwards: a flight taken out meanwhile is over (its leader may have left before
    the event was there to be set), so the follower sets the event itself.
    """

    def __init__(self, limit: float, wait: EventWait = threading.Event.wait) -> None:
        self.limit = limit
        self._wait = wait
        self._lock = threading.Lock()  # (followers making a flight's event)
        self._in_flight: dict[Hashable, Flight] = {}
        #: The flight that ended last (any key), stored by ``leave`` after the leader's
        #: flow finished (its cache writes done): a caller notes it before its lookup and
        #: tells a flight ended since by another object there (the noted one is kept
        #: alive by the note: no later flight can be the same object).
        self.ended: Optional[Flight] = None

    def join(self, key: Hashable) -> tuple[bool, Flight]:
        """(True, a new flight) for the leader of ``key``; (False, the leader's flight,
        with its event) otherwise."""
        mine = Flight()
        flight = self._in_flight.setdefault(key, mine)
        if flight is mine:
            return True, mine
        with self._lock:
            if flight.event is None:
                flight.event = threading.Event()
        if self._in_flight.get(key) is not flight:  # its leader left, the event perhaps unseen
            flight.event.set()
        return False, flight

    def leave(self, key: Hashable, flight: Flight) -> None:
        """The leader is done (whatever the outcome): wake its followers, if any."""
        if self._in_flight.get(key) is flight:  # (only its leader takes a flight out)
            del self._in_flight[key]
        self.ended = flight
        event = flight.event
        if event is not None:
            event.set()

    def follow(self, flight: Flight) -> bool:
        """Wait for a leader (its ``flight``) at most ``limit`` seconds; True if it finished."""
        event = flight.event
        if event is None or self._wait(event, self.limit):
            return True
        logger.warning(
            "An identical token request still in flight after %g s: this call sends its own",
            self.limit,
        )
        return False

    def coalesce(self, key: Hashable, make_flow: Callable[[], Flow[T]]) -> Flow[T]:
        return _coalesced(self, key, make_flow(), make_flow)

    def __len__(self) -> int:
        return len(self._in_flight)


def coalesced(
    flights: Optional[Coalescing], key: Optional[Hashable], make_flow: Callable[[], Flow[T]]
) -> Flow[T]:
    """``make_flow()``, its I/O shared with concurrent callers of the same ``key``.

    With no ``flights`` or no ``key`` (a call that must not share, e.g. with a claims
    challenge) this is ``make_flow()`` itself.
    """
    if flights is None or key is None:
        return make_flow()
    return flights.coalesce(key, make_flow)


def joined(
    flights: SingleFlight, key: Hashable, flow: Flow[T], make_flow: Callable[[], Flow[T]]
) -> tuple[Flow[T], Any, Optional[Flight]]:
    """Start ``flow`` as one caller of ``key``'s flight: the flow to drive on, its first
    step, and the flight it leads (the driver leaves it when the flow ends), or None: a
    follower, which waited for the leader and drives a fresh flow on its own. A flow that
    ends at its first step (a cache hit) joins nothing: StopIteration, its value the
    result. Used by :func:`coalesced`'s generator and by the blocking driver, which joins
    itself (``run_sync``)."""
    ended = flights.ended  # before the flow's cache lookup (an attribute read: no lock)
    step = next(flow)
    leader, flight = flights.join(key)
    if not leader:
        flow.close()
        flights.follow(flight)  # then a fresh flow: the leader's token, or its own request
        flow = make_flow()
        return flow, next(flow), None
    if flights.ended is not ended:  # a leader left during our lookup: it may be stale
        flow.close()
        try:
            flow = make_flow()
            step = next(flow)
        except BaseException:  # (StopIteration too: the fresh flow ended at once)
            flow.close()
            flights.leave(key, flight)
            raise
    return flow, step, flight


def _coalesced(
    flights: SingleFlight, key: Hashable, flow: Flow[T], make_flow: Callable[[], Flow[T]]
) -> Generator[Any, Any, T]:
    try:
        flow, step, flight = joined(flights, key, flow, make_flow)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    try:
        # The started flow, driven on from its first step here (no generator in between).
        while True:
            try:
                response = yield step
            except GeneratorExit:
                raise
            except BaseException as exc:
                try:
                    step = flow.throw(exc)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
            else:
                try:
                    step = flow.send(response)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
    finally:
        flow.close()
        if flight is not None:
            flights.leave(key, flight)
