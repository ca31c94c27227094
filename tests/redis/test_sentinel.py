"""RedisTokenCache (blocking and asyncio) on a real local Sentinel set: a master, two
replicas and three sentinels; the master is killed while eight processes share tokens."""

from __future__ import annotations

import asyncio
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
    SERVICE_NAME,
    TENANTS,
    Fleet,
    partition_key,
    run_failover_scenario,
    scope,
    token_posts,
)
from ._topologies import SentinelSet, info, wait_until

pytestmark = HA_GROUP


@pytest.fixture
def prefix() -> str:
    return f"sentinel-{secrets.token_hex(4)}:"


def stored_targets(client: Any, key: str) -> set[str]:
    raw = client.get(key)
    assert raw is not None, f"{key} is not in Redis"
    return {entry["target"] for entry in load_state(raw)["AccessToken"].values()}


@pytest.fixture
def master(redis_sentinel: SentinelSet) -> Iterator[Any]:
    """A blocking client of the master the sentinels name (``master_for``)."""
    from redis.sentinel import Sentinel

    sentinel = Sentinel(redis_sentinel.addresses, socket_timeout=1)
    client = sentinel.master_for(SERVICE_NAME, socket_timeout=1)
    yield client
    client.close()
    client.connection_pool.disconnect()
    for connection in sentinel.sentinels:
        connection.close()


def test_the_blocking_and_the_asyncio_cache_share_tokens_through_sentinel(
    redis_sentinel: SentinelSet, ha_emulator: Emulator, prefix: str, master: Any
) -> None:
    cache = RedisTokenCache(master, prefix=prefix)
    for tenant in TENANTS[:3]:
        app = identitylib.ConfidentialClientApplication(
            HA_CLIENT_ID, HA_CLIENT_SECRET, authority=ha_emulator.authority(tenant),
            token_cache=cache,
        )  # fmt: skip
        assert app.acquire_token_for_client([scope(0)])["token_source"] == "identity_provider"
    # Written to the master, and replicated.
    replica = redis_sentinel.replicas[0]
    for tenant in TENANTS[:3]:
        assert stored_targets(master, partition_key(prefix, tenant)) == {scope(0)}
    wait_until(
        lambda: replica.client().get(partition_key(prefix, TENANTS[2])) is not None,
        "the replica receiving the writes",
    )

    posts = token_posts(ha_emulator.requests)

    async def main() -> list[str]:
        from redis.asyncio.sentinel import Sentinel

        sentinel = Sentinel(redis_sentinel.addresses, socket_timeout=1)
        client = sentinel.master_for(SERVICE_NAME, socket_timeout=1)
        sources = []
        async with aio.RedisTokenCache(client, prefix=prefix) as shared:
            for tenant in TENANTS[:3]:
                async with aio.ConfidentialClientApplication(
                    HA_CLIENT_ID, HA_CLIENT_SECRET, authority=ha_emulator.authority(tenant),
                    token_cache=shared,
                ) as app:  # fmt: skip
                    for resource in (0, 1):
                        result = await app.acquire_token_for_client([scope(resource)])
                        sources.append(result["token_source"])
        await client.aclose()
        await client.connection_pool.disconnect()  # master_for's pool: not the client's own
        for connection in sentinel.sentinels:
            await connection.aclose()
        return sources

    assert asyncio.run(main()) == ["cache", "identity_provider"] * 3
    assert token_posts(ha_emulator.requests) == posts + 3
    for tenant in TENANTS[:3]:
        assert stored_targets(master, partition_key(prefix, tenant)) == {scope(0), scope(1)}


def test_killing_the_master_while_eight_processes_share_tokens(
    disposable_redis_sentinel: SentinelSet, ha_emulator: Emulator, prefix: str
) -> None:
    sentinels = disposable_redis_sentinel
    old, new = sentinels.master, sentinels.replicas[0]

    def fail_master() -> None:
        old.kill()
        # The sentinels agree it is down; no replica may be promoted yet.
        wait_until(
            lambda: any(_odown(s) for s in sentinels.sentinels),
            "the sentinels seeing the master down",
        )

    def fail_over() -> None:
        sentinels.allow_failover(new)
        wait_until(
            lambda: info(new.port, "replication").get("role") == "master",
            "the replica becoming the master",
        )

    def stored(tenant: str) -> set[str]:
        client = new.client()
        try:
            return stored_targets(client, partition_key(prefix, tenant))
        finally:
            client.close()

    target = ",".join(f"{host}:{port}" for host, port in sentinels.addresses)
    fleet = Fleet("sentinel", target, ha_emulator.base_url, prefix)
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


def _odown(sentinel: Any) -> bool:
    """Whether ``sentinel`` holds the master objectively down (a quorum agreed)."""
    return bool(sentinel.client().sentinel_master(SERVICE_NAME)["is_odown"])
