"""The applications the perf tests drive over the emulator, in either API.

A test names the API (``"sync"`` or ``"aio"``, see :data:`APIS`), gets a maker of the app
it needs (:func:`daemon`, :func:`web_api`, :func:`public_client`) over a cache of its
own, and calls a method with :func:`call`: on a new app object each time, blocking or
awaited in an event loop. :func:`sign_in` and :func:`user_assertion` give it a signed-in
user (the demo's Alice by default), :func:`served_once` a web API whose first
on-behalf-of call was served.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, Callable, NamedTuple

import identitylib
from identitylib import aio
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
)

APIS = ("sync", "aio")
APP_SCOPES = [f"{DEMO_API_URI}/.default"]
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
GRAPH = ["User.Read"]
ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
BOB = ("bob@contoso.onmicrosoft.com", "bob-password")

#: Makes a new application object.
Maker = Callable[[], Any]


def library(api: str) -> Any:
    """The module of ``api``'s application classes."""
    return identitylib if api == "sync" else aio


def call(api: str, make: Maker, method: str, *args: Any) -> Any:
    """``make()``'s ``method(*args)``: in the blocking API, or awaited in an event loop."""
    return call_on(api, make(), method, *args)


def call_on(api: str, app: Any, method: str, *args: Any) -> Any:
    """``app.method(*args)``: in the blocking API, or awaited in an event loop."""
    if api == "sync":
        return getattr(app, method)(*args)

    async def main() -> Any:
        return await getattr(app, method)(*args)

    return asyncio.run(main())


def daemon(emu: Emulator, api: str, cache: Any) -> Maker:
    """Confidential clients of the demo daemon (app tokens) over ``cache``."""
    lib = library(api)
    return lambda: lib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), token_cache=cache
    )


def web_api(emu: Emulator, api: str, cache: Any) -> Maker:
    """Confidential clients of the demo web API (on-behalf-of tokens) over ``cache``."""
    lib = library(api)
    return lambda: lib.ConfidentialClientApplication(
        DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority(), token_cache=cache
    )


def public_client(emu: Emulator, api: str, cache: Any) -> Maker:
    """Public clients of the demo CLI over ``cache``."""
    lib = library(api)
    return lambda: lib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=cache
    )


def sign_in(emu: Emulator, api: str, cache: Any, user: tuple[str, str] = ALICE) -> Any:
    """Sign ``user`` in (username and password) with ``api``'s public client over
    ``cache``; the account it now has in ``cache``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        signed_in = call(
            api, public_client(emu, api, cache), "acquire_token_by_username_password",
            *user, USER_SCOPES,
        )  # fmt: skip
    assert "access_token" in signed_in, signed_in
    (account,) = public_client(emu, "sync", cache)().get_accounts()
    return account


def user_assertion(emu: Emulator, user: tuple[str, str] = ALICE) -> str:
    """A user token for the demo API (the incoming assertion of an on-behalf-of call)."""
    cache = identitylib.TokenCache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = public_client(emu, "sync", cache)().acquire_token_by_username_password(
            *user, USER_SCOPES
        )
    assert "access_token" in result, result
    return str(result["access_token"])


class Served(NamedTuple):
    """A web API app whose first on-behalf-of call (``first``) was served and cached, and
    the assertion of its next call (``second``)."""

    cache: identitylib.TokenCache
    app: Any
    first: str
    second: str
    before: dict[str, Any]


def served_once(emulator: Emulator, api: str, second_user: tuple[str, str] = ALICE) -> Served:
    """``Served`` of a new app (``api``); ``second_user``: whose assertion ``second`` is (default:
    the first call's user again)."""
    first, second = user_assertion(emulator), user_assertion(emulator, second_user)
    cache = identitylib.TokenCache()
    app = web_api(emulator, api, cache)()
    before = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)  # (builds indices)
    assert before["token_source"] == "identity_provider", before
    return Served(cache, app, first, second, before)
