"""A cache hit answered without I/O does no single-flight work, in both APIs.

The single-flight (concurrent identical calls share one request) is for calls that send
one: the blocking shell's flow joins its key's flight, the asyncio shell freezes the
call's arguments into a key. A hit that the builder answers at once (the memo, or the
token filed under the request's exact key) must do neither: in the asyncio API the frozen
key cost as much as the hit itself (bench workload 16). Functional tests: what runs is
counted, never timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import identitylib
from identitylib._flows._single_flight import SingleFlight
from identitylib.aio import _application as aio_shell
from identitylib.emulator import Emulator

from ._apps import APIS, APP_SCOPES, GRAPH, daemon, public_client, sign_in, user_assertion, web_api


@pytest.fixture
def flight_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The single-flight work of the application shells, in call order: ``"join"``
    (the blocking API's flow joins its key's flight) and ``"key"`` (the asyncio API
    freezes a call's key)."""
    done: list[str] = []
    real_join = SingleFlight.join
    real_key = aio_shell.flight_key

    def join(self: SingleFlight, key: Any) -> Any:
        done.append("join")
        return real_join(self, key)

    def flight_key(*parts: Any) -> Any:
        done.append("key")
        return real_key(*parts)

    monkeypatch.setattr(SingleFlight, "join", join)
    monkeypatch.setattr(aio_shell, "flight_key", flight_key)
    return done


def _twice(api: str, app: Any, method: str, *args: Any, between: Callable[[], None]) -> Any:
    """``app.method(*args)`` twice (awaited in one event loop for the asyncio API), calling
    ``between()`` after the first; the two results."""
    if api == "sync":
        first = getattr(app, method)(*args)
        between()
        return first, getattr(app, method)(*args)

    async def main() -> Any:
        first = await getattr(app, method)(*args)
        between()
        return first, await getattr(app, method)(*args)

    return asyncio.run(main())


def _moved(work: list[str], into: list[list[str]]) -> Callable[[], None]:
    """What moves the work counted so far into ``into``, leaving ``work`` empty."""

    def move() -> None:
        into.append(work[:])
        work.clear()

    return move


def _expected_work(api: str) -> list[str]:
    return ["join"] if api == "sync" else ["key"]


def _client_credentials(emu: Emulator, api: str) -> tuple[Any, str, tuple[Any, ...]]:
    """The demo daemon's app token."""
    app = daemon(emu, api, identitylib.TokenCache())()
    return app, "acquire_token_for_client", (APP_SCOPES,)


def _on_behalf_of(emu: Emulator, api: str) -> tuple[Any, str, tuple[Any, ...]]:
    """The demo web API's token for Graph, on behalf of Alice."""
    assertion = user_assertion(emu)
    app = web_api(emu, api, identitylib.TokenCache())()
    return app, "acquire_token_on_behalf_of", (assertion, GRAPH)


def _silent(emu: Emulator, api: str) -> tuple[Any, str, tuple[Any, ...]]:
    """Signed-in Alice's token for Graph: none yet, so the refresh token is redeemed."""
    cache = identitylib.TokenCache()
    account = sign_in(emu, "sync", cache)
    app = public_client(emu, api, cache)()
    return app, "acquire_token_silent", (GRAPH, account)


#: A call whose first answer comes from the identity provider and whose second is a hit:
#: case name -> (emulator, api) -> (app, method, arguments).
CALLS: dict[str, Callable[[Emulator, str], tuple[Any, str, tuple[Any, ...]]]] = {
    "client-credentials": _client_credentials,
    "on-behalf-of": _on_behalf_of,
    "silent": _silent,
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CALLS)
def test_a_hit_does_no_single_flight_work(
    emulator: Emulator, flight_work: list[str], case: str, api: str
) -> None:
    app, method, args = CALLS[case](emulator, api)
    del flight_work[:]  # (the sign-in or the user's assertion before)
    seen: list[list[str]] = []
    first, second = _twice(api, app, method, *args, between=_moved(flight_work, seen))
    assert first["token_source"] == "identity_provider", first
    assert seen == [_expected_work(api)]  # the request was shared
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert flight_work == []
