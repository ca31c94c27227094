"""Private Redis servers for the RedisTokenCache tests.

``redis_server`` (session): one server on a free loopback port with persistence off
(``--save ""``, ``--appendonly no``); ``redis_server.stop()`` / ``.start()`` take it down
and bring it back (empty) on the same port mid-test. ``redis_cluster`` (module) and
``redis_sentinel`` (module) are the high-availability topologies of ``_topologies.py``;
``disposable_redis_cluster`` / ``disposable_redis_sentinel`` are fresh ones for a test
that kills a master. When ``redis-server``, ``redis-cli`` or the ``redis`` package is
missing, the tests skip locally and fail under CI=true (``tests._servers.unavailable``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from identitylib.emulator import Emulator
from tests._servers import unavailable

from ._apps import redis_world
from ._ha_world import ha_config
from ._topologies import RedisClusterSet, RedisServer, SentinelSet, free_port

__all__ = ["RedisServer", "free_port"]


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


def _executables() -> tuple[str, str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        unavailable("redis-server and redis-cli (Debian packages redis-server, redis-tools)")
    return server, cli


def _cluster() -> Iterator[RedisClusterSet]:
    server, cli = _executables()
    cluster = RedisClusterSet(server, cli, tempfile.mkdtemp(prefix="identitylib-cluster-"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _sentinel() -> Iterator[SentinelSet]:
    server, _ = _executables()
    sentinels = SentinelSet(server, tempfile.mkdtemp(prefix="identitylib-sentinel-"))
    try:
        sentinels.start()
        yield sentinels
    finally:
        sentinels.stop()


@pytest.fixture(scope="module")
def redis_cluster(redis_package: None) -> Iterator[RedisClusterSet]:
    """Three masters with a replica each, shared by a module's tests (never killed)."""
    yield from _cluster()


@pytest.fixture
def disposable_redis_cluster(redis_package: None) -> Iterator[RedisClusterSet]:
    """A cluster of the test's own, for killing a master."""
    yield from _cluster()


@pytest.fixture(scope="module")
def redis_sentinel(redis_package: None) -> Iterator[SentinelSet]:
    """A master, two replicas and three sentinels, shared by a module's tests."""
    yield from _sentinel()


@pytest.fixture
def disposable_redis_sentinel(redis_package: None) -> Iterator[SentinelSet]:
    """A Sentinel set of the test's own, for killing its master."""
    yield from _sentinel()


@pytest.fixture(scope="session")
def redis_world_emulator() -> Iterator[Emulator]:
    """An emulator serving the apps of ``_apps.py`` (two tenants, one daemon, one API)."""
    with Emulator(redis_world()) as emu:
        yield emu


@pytest.fixture
def idp(redis_world_emulator: Emulator) -> Emulator:
    """That emulator with no faults and an empty request log."""
    redis_world_emulator.faults.reset()
    redis_world_emulator.reset_requests()
    return redis_world_emulator


@pytest.fixture(scope="module")
def ha_emulator() -> Iterator[Emulator]:
    """An emulator with the failover tests' six tenants, daemon app and twelve APIs."""
    with Emulator(ha_config()) as emu:
        yield emu
