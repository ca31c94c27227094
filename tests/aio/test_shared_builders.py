"""The asyncio classes run the same builders as the blocking ones, not a blocking
application object: what a builder does (its warnings included) looks the same from both
APIs."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, Callable

import pytest

import identitylib
from identitylib import aio
from identitylib.emulator import DEMO_CLI_ID, Emulator

from ._support import ALICE, USER_SCOPES


def call(api: str, app: Any, method: str, *args: Any) -> Any:
    """``app.method(*args)``; for the asyncio API awaited by a coroutine of this file
    (the caller a warning should name)."""
    bound: Callable[..., Any] = getattr(app, method)
    if api == "sync":
        return bound(*args)

    async def caller() -> Any:
        return await bound(*args)

    return asyncio.run(caller())


def public_app(api: str, emu: Emulator) -> Any:
    module: Any = aio if api == "aio" else identitylib
    return module.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=identitylib.TokenCache()
    )


@pytest.mark.parametrize("api", ["sync", "aio"])
@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("acquire_token_by_username_password", (*ALICE, USER_SCOPES)),
        ("get_authorization_request_url", (USER_SCOPES,)),
    ],
)
def test_deprecation_warnings_point_at_the_caller(
    emu: Emulator, api: str, method: str, args: tuple[Any, ...]
) -> None:
    app = public_app(api, emu)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        call(api, app, method, *args)
    deprecations = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert [w.filename for w in deprecations] == [__file__]


@pytest.mark.parametrize("cls", [aio.PublicClientApplication, aio.ConfidentialClientApplication])
def test_an_async_app_holds_no_blocking_application(emu: Emulator, cls: Any) -> None:
    credential = None if cls is aio.PublicClientApplication else "secret"
    app = cls("client-id", credential, authority=emu.authority())
    held = [
        value for value in vars(app).values() if isinstance(value, identitylib.ClientApplication)
    ]
    assert held == []
