"""A call that joins an identical acquisition in flight waits for it at most one request's
deadline, then sends its own (asyncio API; the blocking twin is in
tests/test_single_flight_deadline.py).

The joining call's wait is injected: it "times out" at once, so nothing here waits or is timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from identitylib import aio
from identitylib.aio._flight import SingleFlight
from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator

from ._support import APP_SCOPES, run, token_posts

#: How long a held request waits to be released: only bounds the test if it goes wrong.
HOLD = 10.0


async def timed_out(awaitable: Awaitable[Any], seconds: float) -> Any:
    """An injected bounded wait that ends at once, as if ``seconds`` had passed."""
    future = asyncio.ensure_future(awaitable)
    if not future.done():
        future.cancel()
        raise asyncio.TimeoutError
    return future.result()


def test_a_joining_call_sends_its_own_request_once_the_leaders_deadline_is_over(
    emu: Emulator,
) -> None:
    import httpx

    limits: list[float] = []

    class App(aio.ConfidentialClientApplication):
        def _single_flight(self, limit: float) -> SingleFlight:
            limits.append(limit)
            return SingleFlight(limit, wait_within=timed_out)

    class Holding(httpx.AsyncHTTPTransport):
        """Sends for real, but holds the first token POST until ``release`` is set."""

        def __init__(self) -> None:
            super().__init__()
            self.leader_sent = asyncio.Event()
            self.release = asyncio.Event()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/token") and not self.leader_sent.is_set():
                self.leader_sent.set()
                await asyncio.wait_for(self.release.wait(), HOLD)
            return await super().handle_async_request(request)

    async def main() -> tuple[dict[str, Any], dict[str, Any], int]:
        transport = Holding()
        async with httpx.AsyncClient(transport=transport) as client:
            app = App(
                DEMO_DAEMON_ID,
                DEMO_DAEMON_SECRET,
                authority=emu.authority(),
                http_client=client,
                timeout=(30, 40),
            )
            leader = asyncio.ensure_future(app.acquire_token_for_client(APP_SCOPES))
            await asyncio.wait_for(transport.leader_sent.wait(), HOLD)
            try:
                follower = await asyncio.wait_for(app.acquire_token_for_client(APP_SCOPES), HOLD)
            except asyncio.TimeoutError:
                follower = {"error": "the follower waited for the held leader"}
            posts_while_held = token_posts(emu)
            transport.release.set()
            return await leader, follower, posts_while_held

    leader, follower, posts_while_held = run(main())
    assert posts_while_held == 1  # the follower's own; the leader's is not sent yet
    assert follower["token_source"] == "identity_provider"
    assert leader["token_source"] == "identity_provider"
    assert token_posts(emu) == 2
    assert limits == [70.0]  # the request deadline of timeout=(30, 40): connect + read


def test_a_joining_call_shares_the_result_when_the_leader_ends_in_time() -> None:
    calls: list[str] = []
    waits: list[float] = []

    async def bounded(awaitable: Awaitable[Any], seconds: float) -> Any:
        waits.append(seconds)
        return await awaitable

    async def main() -> list[Any]:
        flights = SingleFlight(25.0, wait_within=bounded)
        release = asyncio.Event()

        async def work() -> dict[str, str]:
            calls.append("work")
            await release.wait()
            return {"access_token": "shared"}

        first = asyncio.ensure_future(flights.run("k", work))
        await asyncio.sleep(0)  # the first call starts the work
        second = asyncio.ensure_future(flights.run("k", work))
        await asyncio.sleep(0)  # the second joins it
        release.set()
        return list(await asyncio.gather(first, second))

    results = run(main())
    assert results == [{"access_token": "shared"}] * 2
    assert calls == ["work"]
    assert waits == [25.0]  # only the joining call's wait is bounded
