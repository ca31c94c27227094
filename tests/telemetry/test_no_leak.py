"""No token, secret, code, assertion or personal data in any span, event or metric point
(personal data only with ``enable_pii_log=True``), the way test_no_secrets_in_logs checks
the logs: the secrets are collected from what the flows really sent and received."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

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

from .conftest import Signals

USERNAME, PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
TOKEN_FIELDS = ("access_token", "refresh_token", "id_token")


def _blocking(emu: Emulator, pii: bool) -> list[Any]:
    public = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), enable_pii_log=pii
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        signed_in = public.acquire_token_by_username_password(USERNAME, PASSWORD, USER_SCOPES)
    (account,) = public.get_accounts()
    silent = public.acquire_token_silent(USER_SCOPES, account, force_refresh=True)
    api = identitylib.ConfidentialClientApplication(
        DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority(), enable_pii_log=pii
    )
    obo = api.acquire_token_on_behalf_of(signed_in["access_token"], ["User.Read"])
    daemon = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), enable_pii_log=pii
    )
    client = daemon.acquire_token_for_client([f"{DEMO_API_URI}/.default"])
    return [signed_in, account, silent, obo, client]


def _asyncio(emu: Emulator, pii: bool) -> list[Any]:
    async def main() -> list[Any]:
        async with aio.PublicClientApplication(
            DEMO_CLI_ID, authority=emu.authority(), enable_pii_log=pii
        ) as public, aio.ConfidentialClientApplication(
            DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority(), enable_pii_log=pii
        ) as api:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                signed_in = await public.acquire_token_by_username_password(
                    USERNAME, PASSWORD, USER_SCOPES
                )
            (account,) = await public.get_accounts()
            silent = await public.acquire_token_silent(USER_SCOPES, account, force_refresh=True)
            obo = await api.acquire_token_on_behalf_of(signed_in["access_token"], ["User.Read"])
            return [signed_in, account, silent, obo]

    return asyncio.run(main())


def _secrets_of(results: list[Any]) -> set[str]:
    found = {DEMO_API_SECRET, DEMO_DAEMON_SECRET, PASSWORD}
    for result in results:
        assert isinstance(result, dict), result
        assert "error" not in result, result
        found.update(str(result[k]) for k in TOKEN_FIELDS if k in result)
    return found


@pytest.mark.parametrize("pii", [False, True], ids=["default", "enable_pii_log"])
@pytest.mark.parametrize("api", ["blocking", "asyncio"])
def test_no_secret_and_no_personal_data_in_signals(
    otel: Signals, emulator: Emulator, api: str, pii: bool
) -> None:
    results = (_blocking if api == "blocking" else _asyncio)(emulator, pii)
    secrets = _secrets_of(results)
    assert any(len(s) > 100 for s in secrets), "no token collected: the test would prove nothing"
    account = results[1]
    personal = {USERNAME, account["home_account_id"], account["local_account_id"]}
    text = otel.everything()
    assert len(otel.calls()) == len(results) - 1  # every acquisition but get_accounts
    assert "http.request.method" in text
    leaked = sorted(s[:12] + "..." for s in secrets if s in text)
    assert not leaked, f"secrets in the signals: {leaked}"
    shown = {p for p in personal if p in text}
    assert shown == ({USERNAME} if pii else set())  # the username only when allowed
