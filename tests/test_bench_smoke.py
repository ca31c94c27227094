"""The benchmarks keep running (a smoke run; timings are never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.msal
def test_cache_scaling_benchmark_runs() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "bench/cache_scaling.py",
            "--sizes",
            "10",
            "100",
            "--rounds",
            "1",
            "--no-save",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "identitylib" in completed.stdout
    assert "0 / 0" in completed.stdout  # cache hits made no request in either library


@pytest.mark.msal
def test_client_assertion_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/run.py", "--only", "10", "--quick", "--no-save"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for algorithm in ("RS256", "PS256"):
        assert f"cc miss, certificate {algorithm}" in completed.stdout
        assert f"signing one, {algorithm}" in completed.stdout
    assert "NOT MET" not in completed.stdout  # identitylib made one request per miss


@pytest.mark.msal
def test_api_guard_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/run.py", "--only", "11", "--quick", "--no-save"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "authenticate (cached key, RS256)" in completed.stdout
    assert "key/metadata fetches" not in completed.stdout  # keys fetched once, then cached


@pytest.mark.msal
def test_library_time_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/run.py", "--only", "15", "--quick", "--no-save"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for case in ("cc miss", "silent refresh (RT)", "on-behalf-of miss"):
        assert f"15 library time, {case}" in completed.stdout
    assert "req/call" in completed.stdout
    assert "identitylib made" not in completed.stdout  # one request per call, every row


@pytest.mark.msal
def test_asyncio_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/run.py", "--only", "16", "--quick", "--no-save"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for case in ("identitylib.aio, 1,000 tasks", "blocking API, 16 threads"):
        assert case in completed.stdout
    for case in ("token requests: identitylib.aio", "token requests: blocking API"):
        assert case in completed.stdout
    assert "targets met: 2 of 2" in completed.stdout  # one token request in each stampede
