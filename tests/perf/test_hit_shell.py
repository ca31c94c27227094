"""A cache hit answered without I/O does no single-flight work, in both APIs.

The single-flight (concurrent identical calls share one request) is for calls that send
one: the blocking shell coalesces a flow, the asyncio shell freezes the call's arguments
into a key. A hit that the builder answers at once (the memo, or the token filed under the
request's exact key) must do neither: in the asyncio API the frozen key cost as much as
the hit itself (bench workload 16). Functional tests: what runs is counted, never timed.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import identitylib
from identitylib import aio
from identitylib._application import _base as blocking_shell
from identitylib.aio import _application as aio_shell
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
)

APP_SCOPES = [f"{DEMO_API_URI}/.default"]
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
GRAPH = ["User.Read"]
ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
APIS = ("sync", "aio")


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
    lib: Any = identitylib if api == "sync" else aio
    app = lib.ConfidentialClientApplication(
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        authority=emulator.authority(),
        token_cache=identitylib.TokenCache(),
    )
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
    signed_in = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emulator.authority(), token_cache=identitylib.TokenCache()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        user = signed_in.acquire_token_by_username_password(*ALICE, USER_SCOPES)
    assert "access_token" in user, user
    lib: Any = identitylib if api == "sync" else aio
    app = lib.ConfidentialClientApplication(
        DEMO_API_ID,
        DEMO_API_SECRET,
        authority=emulator.authority(),
        token_cache=identitylib.TokenCache(),
    )
    del flight_work[:]
    seen: list[list[str]] = []
    first, second = _twice(
        api,
        app,
        "acquire_token_on_behalf_of",
        user["access_token"],
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
    signed_in = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emulator.authority(), token_cache=cache
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        user = signed_in.acquire_token_by_username_password(*ALICE, USER_SCOPES)
    assert "access_token" in user, user
    (account,) = signed_in.get_accounts()
    lib: Any = identitylib if api == "sync" else aio
    app = lib.PublicClientApplication(
        DEMO_CLI_ID, authority=emulator.authority(), token_cache=cache
    )
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
