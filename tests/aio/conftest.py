"""Fixtures of the asyncio API's tests: one emulator for the module, fast device codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("httpx")

from identitylib.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="package")
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig.default()
    config.device_code_interval = 1
    config.device_code_lifetime = 60
    with Emulator(config) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.faults.reset()
    emu.reset_requests()
