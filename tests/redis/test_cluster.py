"""RedisTokenCache (blocking and asyncio) on a real local Redis Cluster: three masters with a
replica each, one of which is killed while eight processes share tokens."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

import identitylib
from identitylib import aio
from identitylib._cache._serialization import load_state
from identitylib._redis import RedisTokenCache
from identitylib.emulator import Emulator

from ._groups import HA_GROUP
from ._ha_world import (
    HA_CLIENT_ID,
    HA_CLIENT_SECRET,
    TENANTS,
    Fleet,
    partition_key,
    run_failover_scenario,
    scope,
    token_posts,
)
from ._topologies import RedisClusterSet, wait_until

pytestmark = HA_GROUP


@pytest.fixture
def prefix() -> str:
    return f"cluster-{secrets.token_hex(4)}:"


@pytest.fixture
def reader(redis_cluster: RedisClusterSet) -> Iterator[Any]:
    """A cluster client of the test's own, for looking at what the caches stored."""
    import redis

    client = redis.RedisCluster.from_url(redis_cluster.url)
    yield client
    client.close()


def stored_targets(client: Any, key: str) -> set[str]:
    raw = client.get(key)
    assert raw is not None, f"{key} is not in the cluster"
    return {entry["target"] for entry in load_state(raw)["AccessToken"].values()}


def sync_app(cache: Any, emu: Emulator, tenant: str) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        HA_CLIENT_ID, HA_CLIENT_SECRET, authority=emu.authority(tenant), token_cache=cache
    )


def test_the_blocking_and_the_asyncio_cache_share_tokens_on_a_cluster(
    redis_cluster: RedisClusterSet, ha_emulator: Emulator, prefix: str, reader: Any
) -> None:
    cache = RedisTokenCache(url=redis_cluster.url, cluster=True, prefix=prefix)
    for tenant in TENANTS:
        result = sync_app(cache, ha_emulator, tenant).acquire_token_for_client([scope(0)])
        assert result["token_source"] == "identity_provider", result
    cache.close()
    # Each partition is one key, stored on the master that serves its slot...
    keys = [partition_key(prefix, tenant) for tenant in TENANTS]
    for key in keys:
        assert stored_targets(reader, key) == {scope(0)}
    masters = {redis_cluster.master_of(key).port for key in keys}
    assert len(masters) > 1  # the tenants' partitions are spread over the masters

    # ... and the asyncio cache reads them (no token request), then adds its own.
    posts = token_posts(ha_emulator.requests)

    async def main() -> list[str]:
        sources = []
        async with aio.RedisTokenCache(url=redis_cluster.url, cluster=True, prefix=prefix) as a:
            for tenant in TENANTS:
                async with aio.ConfidentialClientApplication(
                    HA_CLIENT_ID, HA_CLIENT_SECRET, authority=ha_emulator.authority(tenant),
                    token_cache=a,
                ) as app:  # fmt: skip
                    for resource in (0, 1):
                        result = await app.acquire_token_for_client([scope(resource)])
                        sources.append(result["token_source"])
        return sources

    assert asyncio.run(main()) == ["cache", "identity_provider"] * len(TENANTS)
    assert token_posts(ha_emulator.requests) == posts + len(TENANTS)
    for key in keys:
        assert stored_targets(reader, key) == {scope(0), scope(1)}


def test_a_ready_cluster_client_is_used_as_it_is(
    redis_cluster: RedisClusterSet, ha_emulator: Emulator, prefix: str, reader: Any
) -> None:
    import redis

    client = redis.RedisCluster.from_url(redis_cluster.url)
    cache = RedisTokenCache(client, prefix=prefix)
    assert cache.redis is client
    app = sync_app(cache, ha_emulator, TENANTS[0])
    assert app.acquire_token_for_client([scope(2)])["token_source"] == "identity_provider"
    assert stored_targets(reader, partition_key(prefix, TENANTS[0])) == {scope(2)}
    cache.close()
    assert client.ping()  # not closed: the cache did not make it


def test_cluster_arguments_are_checked(redis_cluster: RedisClusterSet) -> None:
    import redis
    import redis.asyncio

    blocking = redis.RedisCluster.from_url(redis_cluster.url)
    asynchronous = redis.asyncio.RedisCluster.from_url(redis_cluster.url)  # not connected yet
    with pytest.raises(ValueError, match="cluster=True"):
        RedisTokenCache(blocking, cluster=True)
    with pytest.raises(TypeError, match=r"redis\.asyncio"):
        RedisTokenCache(asynchronous)
    with pytest.raises(TypeError, match=r"redis\.asyncio client"):
        aio.RedisTokenCache(blocking)
    blocking.close()


class SlotNotCovered:
    """A client whose calls fail as a cluster client's do when no node serves a slot."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.down = False

    def _check(self) -> None:
        import redis

        if self.down:
            raise redis.exceptions.SlotNotCoveredError("no node serves this slot")

    def get(self, key: str) -> Any:
        self._check()
        return self.client.get(key)

    def register_script(self, script: str) -> Any:
        registered = self.client.register_script(script)

        def run(**kw: Any) -> Any:
            self._check()
            return registered(**kw)

        return run


def test_a_cluster_without_a_node_for_the_slot_is_an_outage(
    redis_cluster: RedisClusterSet,
    ha_emulator: Emulator,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """redis-py's cluster errors (SlotNotCoveredError, RedisClusterUnreachableError) are
    not RedisErrors: they too mean "serve from memory", logged once, no traceback."""
    import redis

    client = SlotNotCovered(redis.RedisCluster.from_url(redis_cluster.url))
    cache = RedisTokenCache(client, prefix=prefix, first_level_ttl=0, retry_interval=0)
    app = sync_app(cache, ha_emulator, TENANTS[1])
    assert app.acquire_token_for_client([scope(3)])["token_source"] == "identity_provider"
    client.down = True
    posts = token_posts(ha_emulator.requests)
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        for _ in range(3):
            assert app.acquire_token_for_client([scope(3)])["token_source"] == "cache"
    assert token_posts(ha_emulator.requests) == posts
    assert cache.unavailable
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.exc_info for r in warnings] == [None]
    assert "SlotNotCoveredError" in warnings[0].getMessage()
    client.client.close()


def test_the_asyncio_cache_treats_cluster_errors_as_an_outage(
    redis_cluster: RedisClusterSet, ha_emulator: Emulator, prefix: str
) -> None:
    import redis.asyncio

    class AsyncSlotNotCovered(SlotNotCovered):
        async def get(self, key: str) -> Any:  # type: ignore[override]
            self._check()
            return await self.client.get(key)

        def register_script(self, script: str) -> Any:
            registered = self.client.register_script(script)

            async def run(**kw: Any) -> Any:
                self._check()
                return await registered(**kw)

            return run

    async def main() -> list[str]:
        client = AsyncSlotNotCovered(redis.asyncio.RedisCluster.from_url(redis_cluster.url))
        cache = aio.RedisTokenCache(client, prefix=prefix, first_level_ttl=0, retry_interval=0)
        sources = []
        async with aio.ConfidentialClientApplication(
            HA_CLIENT_ID, HA_CLIENT_SECRET, authority=ha_emulator.authority(TENANTS[2]),
            token_cache=cache,
        ) as app:  # fmt: skip
            sources.append((await app.acquire_token_for_client([scope(4)]))["token_source"])
            client.down = True
            for _ in range(3):
                result = await app.acquire_token_for_client([scope(4)])
                sources.append(result["token_source"])
        assert cache.unavailable
        await client.client.aclose()
        return sources

    posts = token_posts(ha_emulator.requests)
    assert asyncio.run(main()) == ["identity_provider", "cache", "cache", "cache"]
    assert token_posts(ha_emulator.requests) == posts + 1


def test_killing_a_master_while_eight_processes_share_tokens(
    disposable_redis_cluster: RedisClusterSet, ha_emulator: Emulator, prefix: str
) -> None:
    import redis

    cluster = disposable_redis_cluster
    victim = cluster.master_of(partition_key(prefix, TENANTS[0]))
    replica = cluster.replicas_of(victim)[0]
    survivors = [node for node in cluster.nodes if node is not victim]

    def fail_master() -> None:
        victim.kill()
        # The others mark it failed; with its failover held back, the cluster is down.
        wait_until(
            lambda: all(cluster.state(node) == "fail" for node in survivors),
            "the surviving nodes seeing the cluster down",
        )

    def fail_over() -> None:
        cluster.allow_failover()
        wait_until(
            lambda: (
                cluster.role(replica) == "master"
                and all(cluster.state(node) == "ok" for node in survivors)
            ),
            "the replica taking over and the cluster becoming ok",
        )

    def stored(tenant: str) -> set[str]:
        client = redis.RedisCluster.from_url(replica.url)
        try:
            return stored_targets(client, partition_key(prefix, tenant))
        finally:
            client.close()

    fleet = Fleet("cluster", cluster.url, ha_emulator.base_url, prefix)
    try:
        run_failover_scenario(
            fleet,
            posts=lambda: token_posts(ha_emulator.requests),
            fail_master=fail_master,
            fail_over=fail_over,
            stored_targets=stored,
        )
    finally:
        fleet.close()
