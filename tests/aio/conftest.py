"""Fixtures of the asyncio API's tests: one emulator for the module, fast device codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._servers import require_module

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("httpx")

from identitylib._managed_identity import _arc, _sources
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


@pytest.fixture
def mi_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No managed identity variables or agent files of this machine (set your own)."""
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_sources, "ARC_AGENT_FILES", {})
    monkeypatch.setitem(_arc.ARC_TOKEN_DIRECTORIES, sys.platform, str(tmp_path / "tokens"))
    return monkeypatch
