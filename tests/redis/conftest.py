"""A private redis-server for the RedisTokenCache tests, started once per session.

The server listens on a free loopback port with persistence off (``--save ""``,
``--appendonly no``); ``redis_server.stop()`` / ``.start()`` take it down and bring it
back (empty) on the same port mid-test. When ``redis-server`` or the ``redis`` package is
missing, the tests skip locally and fail under CI=true (``tests._servers.unavailable``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests._servers import unavailable

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process on a fixed loopback port."""

    def __init__(self, executable: str, port: int, workdir: str) -> None:
        self.executable = executable
        self.port = port
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        command = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", self.workdir,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING within {START_TIMEOUT} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def ping(self) -> bool:
        try:
            return bool(self.client(timeout=0.5).ping())
        except Exception:
            return False

    def client(self, timeout: float = 2.0) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=timeout)


@pytest.fixture(scope="session")
def redis_package() -> None:
    """The redis Python package is installed (the ``redis`` extra)."""
    try:
        import redis  # noqa: F401
    except ImportError:
        unavailable("the redis Python package (pip install -e '.[redis]')")


@pytest.fixture(scope="session")
def redis_server(redis_package: None) -> Iterator[RedisServer]:
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable("redis-server (Debian package)")
    workdir = tempfile.mkdtemp(prefix="identitylib-redis-")
    server = RedisServer(executable, free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The server's URL, running and empty at the start of the test."""
    redis_server.start()
    client = redis_server.client()
    client.flushall()
    client.config_resetstat()
    client.close()
    yield redis_server.url
    redis_server.start()  # A test that stopped it leaves it running for the next.


@pytest.fixture
def redis_client(redis_url: str, redis_server: RedisServer) -> Iterator[Any]:
    """A plain client of the test server, for looking at what the cache stored."""
    client = redis_server.client()
    yield client
    client.close()
