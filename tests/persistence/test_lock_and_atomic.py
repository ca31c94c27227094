"""The cross-process lock and the atomic file replacement."""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from identitylib._persistence import _lock
from identitylib._persistence._atomic import replace_with, sweep_temp_files, write_atomically
from identitylib._persistence._lock import CacheFileLock

# ----------------------------------------------------------------------- lock


class _Clock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def now(self) -> float:
        return 1000.0 + sum(self.slept)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_lock_excludes_another_holder_and_cleans_up(tmp_path: Path) -> None:
    path = str(tmp_path / "c.json.lockfile")
    first, second = CacheFileLock(path), CacheFileLock(path)
    assert first.acquire(1)
    assert Path(path).read_text().startswith(f"{os.getpid()} ")  # msal-extensions' format
    if os.name != "nt":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    clock = _Clock()
    waiting = CacheFileLock(path, clock=clock.now, sleep=clock.sleep)
    assert waiting.acquire(0.2) is False
    assert sum(clock.slept) == pytest.approx(0.2)  # waited out its timeout, no longer
    assert len(clock.slept) > 1  # polling meanwhile
    first.release()
    assert not os.path.exists(path)
    assert second.acquire(1)
    second.release()
    second.release()  # Releasing twice is harmless.


def test_lock_is_not_reentrant(tmp_path: Path) -> None:
    lock = CacheFileLock(str(tmp_path / "x.lockfile"))
    assert lock.acquire(1)
    with pytest.raises(RuntimeError):
        lock.acquire(1)
    lock.release()


def test_waiters_get_the_lock_one_at_a_time(tmp_path: Path) -> None:
    path = str(tmp_path / "c.lockfile")
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        lock = CacheFileLock(path)
        for _ in range(20):
            assert lock.acquire(10)
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.001)
            with guard:
                inside -= 1
            lock.release()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most == 1


def test_a_held_lock_file_is_never_taken_over_as_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lock, "STALE_AFTER", 0.05)
    path = str(tmp_path / "c.lockfile")
    holder = CacheFileLock(path)
    assert holder.acquire(1)
    assert CacheFileLock(path).acquire(0.3) is False  # Six times STALE_AFTER.
    holder.release()


def test_an_abandoned_lock_file_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "c.lockfile"
    path.write_text("12345 /usr/bin/crashed")
    clock = _Clock()
    lock = CacheFileLock(str(path), clock=clock.now, sleep=clock.sleep)
    assert lock.acquire(5)
    # Taken over once unchanged for STALE_AFTER, at the next poll (a poll waits at most
    # 1.5 times the longest wait: the jitter factor is in [0.5, 1.5)).
    longest_poll = 1.5 * _lock._LONGEST_WAIT
    assert _lock.STALE_AFTER <= sum(clock.slept) <= _lock.STALE_AFTER + longest_poll
    assert path.read_text().startswith(f"{os.getpid()} ")
    lock.release()


# --------------------------------------------------------------------- atomic


def test_write_atomically_replaces_the_file_with_a_new_0600_one(tmp_path: Path) -> None:
    target = tmp_path / "new" / "c.json"
    write_atomically(str(target), b"first")
    inode = target.stat().st_ino
    write_atomically(str(target), b"second")
    assert target.read_bytes() == b"second"
    assert target.stat().st_ino != inode  # A new file, renamed over the old one.
    if os.name != "nt":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert os.listdir(target.parent) == ["c.json"]


def test_a_failed_write_leaves_the_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    target.write_bytes(b"intact")

    def fail_halfway(temp: str) -> None:
        Path(temp).write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_with(str(target), fail_halfway)
    assert target.read_bytes() == b"intact"
    assert os.listdir(tmp_path) == ["c.json"]


def test_sweep_removes_only_temp_files_of_this_cache(tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    names = [
        ".c.json.k2j4_x9a.tmp",
        ".c.json.abcdefgh.tmp",
        ".c.json.notes",
        ".d.json.abcdefgh.tmp",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    assert sweep_temp_files(str(target)) == 2
    assert sorted(os.listdir(tmp_path)) == [".c.json.notes", ".d.json.abcdefgh.tmp"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_directory_creation_uses_0700(tmp_path: Path) -> None:
    write_atomically(str(tmp_path / "a" / "b" / "c.json"), b"{}")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
