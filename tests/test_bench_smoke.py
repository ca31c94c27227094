"""The benchmarks keep running (a smoke run; timings are never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bench(script: str, *arguments: str) -> str:
    """What ``script`` printed, run with ``arguments`` and ``--no-save``; it must exit 0."""
    completed = subprocess.run(
        [sys.executable, script, *arguments, "--no-save"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def quick_run(workload: str) -> str:
    """What ``bench/run.py --only WORKLOAD --quick`` printed."""
    return bench("bench/run.py", "--only", workload, "--quick")


@pytest.mark.msal
def test_cache_scaling_benchmark_runs() -> None:
    printed = bench("bench/cache_scaling.py", "--sizes", "10", "100", "--rounds", "1")
    assert "identitylib" in printed
    assert "0 / 0" in printed  # cache hits made no request in either library


@pytest.mark.msal
def test_client_assertion_benchmark_runs() -> None:
    printed = quick_run("10")
    for algorithm in ("RS256", "PS256"):
        assert f"cc miss, certificate {algorithm}" in printed
        assert f"signing one, {algorithm}" in printed
    assert "NOT MET" not in printed  # identitylib made one request per miss


@pytest.mark.msal
def test_api_guard_benchmark_runs() -> None:
    printed = quick_run("11")
    assert "authenticate (cached key, RS256)" in printed
    assert "key/metadata fetches" not in printed  # keys fetched once, then cached


@pytest.mark.msal
def test_library_time_benchmark_runs() -> None:
    printed = quick_run("15")
    for case in ("cc miss", "silent refresh (RT)", "on-behalf-of miss"):
        assert f"15 library time, {case}" in printed
    assert "req/call" in printed
    assert "identitylib made" not in printed  # one request per call, every row


@pytest.mark.msal
def test_asyncio_benchmark_runs() -> None:
    printed = quick_run("16")
    for case in ("identitylib.aio, 1,000 tasks", "blocking API, 16 threads"):
        assert case in printed
    for case in ("token requests: identitylib.aio", "token requests: blocking API"):
        assert case in printed
    assert "targets met: 2 of 2" in printed  # one token request in each stampede


@pytest.mark.msal
def test_rotating_hits_benchmark_runs() -> None:
    printed = quick_run("12")  # (identitylib's same-call memo switched off: see memo_off)
    for case in ("cc hit, rotating tenant", "silent hit, rotating account"):
        assert f"12 {case}" in printed
    assert "12 on-behalf-of hit, rotating assertion" in printed
