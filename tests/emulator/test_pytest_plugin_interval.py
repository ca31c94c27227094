"""The pytest plugin's emulators ask for 1-second device-code polls; a standalone one for 5."""

from __future__ import annotations

import asyncio
from typing import Any

import identitylib
from identitylib.emulator import DEMO_API_URI, DEMO_CLI_ID, Emulator, EmulatorConfig
from tests._servers import require_module

SCOPES = [f"{DEMO_API_URI}/access_as_user"]


def test_the_plain_fixture_asks_for_one_second_polls(identitylib_emulator: Emulator) -> None:
    authority = identitylib_emulator.authority()
    app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=authority)
    flow = app.initiate_device_flow(SCOPES)
    assert flow["interval"] == 1


def test_the_tls_fixture_asks_for_one_second_polls_async(
    identitylib_emulator_tls: Emulator,
) -> None:
    aio = require_module("identitylib.aio")

    async def initiate() -> dict[str, Any]:
        async with aio.PublicClientApplication(
            DEMO_CLI_ID,
            authority=identitylib_emulator_tls.authority(),
            verify=identitylib_emulator_tls.ca_path,
        ) as app:
            flow: dict[str, Any] = await app.initiate_device_flow(SCOPES)
            return flow

    assert asyncio.run(initiate())["interval"] == 1


def test_a_standalone_emulator_keeps_five_second_polls() -> None:
    assert EmulatorConfig.default().device_code_interval == 5
