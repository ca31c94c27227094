"""Shared helpers of the asyncio API's tests."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

import identitylib
from identitylib.emulator import DEMO_API_URI, DEMO_CLI_ID, Emulator

T = TypeVar("T")

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
BOB = ("bob@contoso.onmicrosoft.com", "bob-password")
APP_SCOPES = [f"{DEMO_API_URI}/.default"]
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine in a fresh event loop (asyncio debug mode on: misuse is reported)."""
    return asyncio.run(coro, debug=True)


def token_posts(emu: Emulator) -> int:
    """Token requests the emulator served since its last reset."""
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


def user_assertion(emu: Emulator, user: tuple[str, str] = ALICE) -> str:
    """A user token for the demo API (the incoming assertion of an OBO call), sync API."""
    app = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=identitylib.TokenCache()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(*user, USER_SCOPES)
    assert "access_token" in result, result
    return str(result["access_token"])
