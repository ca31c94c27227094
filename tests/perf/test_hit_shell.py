"""A cache hit answered without I/O does no single-flight work, in both APIs.

The single-flight (concurrent identical calls share one request) is for calls that send
one: the blocking shell coalesces a flow, the asyncio shell freezes the call's arguments
into a key. A hit that the builder answers at once (the memo, or the token filed under the
request's exact key) must do neither: in the asyncio API the frozen key cost as much as
the hit itself (bench workload 16). Functional tests: what runs is counted, never timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import identitylib
from identitylib._application import _base as blocking_shell
from identitylib.aio import _application as aio_shell
from identitylib.emulator import Emulator

from ._apps import APIS, APP_SCOPES, GRAPH, daemon, public_client, sign_in, user_assertion, web_api


@pytest.fixture
def flight_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The single-flight work of the application shells, in call order: ``"coalesced"``
    (the blocking API shares a flow) and ``"key"`` (the asyncio API freezes a call's key)."""
    done: list[str] = []
    real_coalesced = blocking_shell.coalesced
    real_key = aio_shell.flight_key

    def coalesced(*args: Any) -> Any:
        done.append("coalesced")
        return real_coalesced(*args)

    def flight_key(*parts: Any) -> Any:
        done.append("key")
        return real_key(*parts)

    monkeypatch.setattr(blocking_shell, "coalesced", coalesced)
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
    return ["coalesced"] if api == "sync" else ["key"]


@pytest.mark.parametrize("api", APIS)
def test_a_client_credentials_hit_does_no_single_flight_work(
    emulator: Emulator, flight_work: list[str], api: str
) -> None:
    app = daemon(emulator, api, identitylib.TokenCache())()
    seen: list[list[str]] = []
    first, second = _twice(
        api,
        app,
        "acquire_token_for_client",
        APP_SCOPES,
        between=_moved(flight_work, seen),
    )
    assert first["token_source"] == "identity_provider", first
    assert seen == [_expected_work(api)]  # the request was shared
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert flight_work == []


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_hit_does_no_single_flight_work(
    emulator: Emulator, flight_work: list[str], api: str
) -> None:
    assertion = user_assertion(emulator)
    app = web_api(emulator, api, identitylib.TokenCache())()
    del flight_work[:]
    seen: list[list[str]] = []
    first, second = _twice(
        api,
        app,
        "acquire_token_on_behalf_of",
        assertion,
        GRAPH,
        between=_moved(flight_work, seen),
    )
    assert first["token_source"] == "identity_provider", first
    assert seen == [_expected_work(api)]
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert flight_work == []


@pytest.mark.parametrize("api", APIS)
def test_a_silent_hit_does_no_single_flight_work(
    emulator: Emulator, flight_work: list[str], api: str
) -> None:
    cache = identitylib.TokenCache()
    account = sign_in(emulator, "sync", cache)
    app = public_client(emulator, api, cache)()
    del flight_work[:]
    seen: list[list[str]] = []
    first, second = _twice(
        api,
        app,
        "acquire_token_silent",
        GRAPH,  # no token for it yet: the refresh token is redeemed
        account,
        between=_moved(flight_work, seen),
    )
    assert first["token_source"] == "identity_provider", first
    assert seen == [_expected_work(api)]
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert flight_work == []
