"""OpenTelemetry is optional: not imported unless enabled, a clear error when missing,
and the totals kept without it (thread-safe)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from identitylib._telemetry._totals import Totals
from identitylib.emulator import Emulator

SCRIPT = """
import sys, importlib.abc

class NoOpenTelemetry(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

if sys.argv[2] == "absent":
    sys.meta_path.insert(0, NoOpenTelemetry())

import identitylib
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET

app = identitylib.ConfidentialClientApplication(
    DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=sys.argv[1]
)
for _ in range(2):
    assert "access_token" in app.acquire_token_for_client([DEMO_API_URI + "/.default"])
totals = app.get_token_totals()
assert (totals.tokens_from_cache, totals.tokens_from_identity_provider) == (1, 1), totals
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
assert not loaded, loaded
if sys.argv[2] == "absent":
    import identitylib.telemetry
    try:
        identitylib.telemetry.enable()
    except ImportError as exc:
        assert "identitylib[telemetry]" in str(exc), exc
    else:
        raise AssertionError("enable() without opentelemetry-api did not raise")
    assert not identitylib.telemetry.is_enabled()
print("ok")
"""


@pytest.mark.parametrize("opentelemetry", ["installed", "absent"])
def test_not_imported_unless_enabled(emulator: Emulator, opentelemetry: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), emulator.authority(), opentelemetry],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


FROM_CACHE = {"access_token": "a", "token_source": "cache"}
FROM_PROVIDER = {"access_token": "b", "token_source": "identity_provider"}


def test_totals_are_thread_safe() -> None:
    totals = Totals()
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(2000):
            totals.add(FROM_CACHE, False, 0.001, 0.0)
            totals.add(FROM_PROVIDER, False, 0.002, 0.001)
            totals.add({"error": "invalid_grant"}, False, 0.0, 0.0)
            totals.add(None, True, 0.0, 0.0)  # raised
            totals.add(None, False, 0.0, 0.0)  # silent: nothing to return

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    snapshot = totals.snapshot()
    assert (snapshot.tokens_from_cache, snapshot.tokens_from_identity_provider) == (16000, 16000)
    assert snapshot.errors == 32000
    assert snapshot.total_ms == pytest.approx(48000.0)
    assert snapshot.http_ms == pytest.approx(16000.0)
    assert snapshot.library_ms == pytest.approx(32000.0)
    assert snapshot.cache_hit_ratio == 0.5
    assert Totals().snapshot().cache_hit_ratio is None


def test_totals_keep_what_ended_threads_counted() -> None:
    """Each thread adds to a row of its own; a row of an ended thread is folded into the
    retired one when a new thread registers, its counts kept."""
    totals = Totals()
    for _ in range(5):
        thread = threading.Thread(target=totals.add, args=(FROM_CACHE, False, 0.001, 0.0005))
        thread.start()
        thread.join(timeout=60)
    totals.add(FROM_PROVIDER, False, 0.002)
    snapshot = totals.snapshot()
    assert (snapshot.tokens_from_cache, snapshot.tokens_from_identity_provider) == (5, 1)
    assert snapshot.total_ms == pytest.approx(7.0)
    assert snapshot.http_ms == pytest.approx(2.5)
    assert len(totals._rows) <= 2  # the ended threads' rows were folded
