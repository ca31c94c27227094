"""``identitylib demo``, the README's main job, works end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("extra", [[], ["--tls"]])
def test_demo_command(extra: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "identitylib", "demo", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    out = completed.stdout
    assert "client credentials (secret)" in out
    for flow in ("on-behalf-of (web API)", "managed identity (App Service)", "web app"):
        assert flow in out
    assert "identity_provider" in out
    assert "cache" in out
    assert "all " in out
    assert "succeeded" in out


def test_cli_without_command_prints_help() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "identitylib"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "emulator" in completed.stderr
    assert "demo" in completed.stderr
