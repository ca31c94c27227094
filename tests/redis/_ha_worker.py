"""One app process of the failover tests: acquires app tokens through a RedisTokenCache on a
Redis Cluster or a Sentinel-managed master, against the identity emulator.

``python -m tests.redis._ha_worker API TOPOLOGY TARGET BASE_URL PREFIX``

* API: ``sync`` (identitylib's blocking API) or ``aio`` (``identitylib.aio``);
* TOPOLOGY: ``cluster`` (TARGET is the URL of one node: ``url=..., cluster=True``) or
  ``sentinel`` (TARGET is ``host:port,host:port,...``, the sentinels: the cache is given
  a ``Sentinel(...).master_for(...)`` client).

It prints ``ready``, then answers each JSON command read from stdin with one JSON line:

* ``{"acquire": [[tenant, resource], ...]}``: acquires each app token in turn; answers
  ``{"sources": [...], "errors": [...], "unavailable": bool}`` (was Redis unreachable at
  any point of the command);
* ``{"reach": [tenant, resource]}``: acquires that token again and again (a bounded loop)
  until an acquisition finds Redis reachable; answers ``{"reached": bool}``.

It ends when stdin closes. Every token comes from the emulator (the client credentials
grant), through one cache shared by one app object per tenant.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from ._ha_world import HA_CLIENT_ID, HA_CLIENT_SECRET, scope

FIRST_LEVEL_TTL = 0.0  # every access revalidates: another process's token is seen at once
RETRY_INTERVAL = 0.2
SOCKET_TIMEOUT = 0.5
REACH_POLLS = 400
REACH_PAUSE = 0.05


def sentinel_addresses(target: str) -> list[tuple[str, int]]:
    return [(host, int(port)) for host, port in (a.rsplit(":", 1) for a in target.split(","))]


def sync_cache(topology: str, target: str, prefix: str) -> Any:
    from identitylib import RedisTokenCache

    options: dict[str, Any] = {
        "prefix": prefix,
        "first_level_ttl": FIRST_LEVEL_TTL,
        "retry_interval": RETRY_INTERVAL,
    }
    if topology == "cluster":
        return RedisTokenCache(url=target, cluster=True, socket_timeout=SOCKET_TIMEOUT, **options)
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from redis.sentinel import Sentinel

    from ._ha_world import SERVICE_NAME

    sentinel = Sentinel(sentinel_addresses(target), socket_timeout=SOCKET_TIMEOUT)
    master = sentinel.master_for(
        SERVICE_NAME,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
    )
    return RedisTokenCache(master, **options)


def async_cache(topology: str, target: str, prefix: str) -> Any:
    from identitylib.aio import RedisTokenCache

    options: dict[str, Any] = {
        "prefix": prefix,
        "first_level_ttl": FIRST_LEVEL_TTL,
        "retry_interval": RETRY_INTERVAL,
    }
    if topology == "cluster":
        return RedisTokenCache(url=target, cluster=True, socket_timeout=SOCKET_TIMEOUT, **options)
    from redis.asyncio.retry import Retry
    from redis.asyncio.sentinel import Sentinel
    from redis.backoff import NoBackoff

    from ._ha_world import SERVICE_NAME

    sentinel = Sentinel(sentinel_addresses(target), socket_timeout=SOCKET_TIMEOUT)
    master = sentinel.master_for(
        SERVICE_NAME,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
    )
    return RedisTokenCache(master, **options)


def answer(body: dict[str, Any]) -> None:
    print(json.dumps(body), flush=True)


def outcome(result: dict[str, Any]) -> tuple[str, str]:
    """(source, error): the token's source, or the error of a failed acquisition."""
    if result.get("access_token"):
        return str(result.get("token_source")), ""
    return "", f"{result.get('error')}: {str(result.get('error_description'))[:200]}"


def run_sync(topology: str, target: str, base_url: str, prefix: str) -> None:
    import identitylib

    cache = sync_cache(topology, target, prefix)
    apps: dict[str, Any] = {}

    def acquire(tenant: str, resource: int) -> tuple[str, str]:
        if tenant not in apps:
            apps[tenant] = identitylib.ConfidentialClientApplication(
                HA_CLIENT_ID,
                HA_CLIENT_SECRET,
                authority=f"{base_url}/{tenant}",
                token_cache=cache,
            )
        try:
            return outcome(apps[tenant].acquire_token_for_client([scope(resource)]))
        except Exception as error:  # reported to the test, which fails on it
            return "", repr(error)

    answer({"ready": True})
    for line in sys.stdin:
        command = json.loads(line)
        if "acquire" in command:
            sources, errors, unavailable = [], [], False
            for tenant, resource in command["acquire"]:
                source, error = acquire(tenant, resource)
                sources.append(source)
                if error:
                    errors.append(error)
                unavailable = unavailable or cache.unavailable
            answer({"sources": sources, "errors": errors, "unavailable": unavailable})
        else:
            tenant, resource = command["reach"]
            for _ in range(REACH_POLLS):
                acquire(tenant, resource)
                if not cache.unavailable:
                    break
                time.sleep(REACH_PAUSE)
            answer({"reached": not cache.unavailable})
    cache.close()


async def run_async(topology: str, target: str, base_url: str, prefix: str) -> None:
    from identitylib import aio

    cache = async_cache(topology, target, prefix)
    apps: dict[str, Any] = {}

    async def acquire(tenant: str, resource: int) -> tuple[str, str]:
        if tenant not in apps:
            apps[tenant] = aio.ConfidentialClientApplication(
                HA_CLIENT_ID,
                HA_CLIENT_SECRET,
                authority=f"{base_url}/{tenant}",
                token_cache=cache,
            )
        try:
            return outcome(await apps[tenant].acquire_token_for_client([scope(resource)]))
        except Exception as error:  # reported to the test, which fails on it
            return "", repr(error)

    answer({"ready": True})
    while line := await asyncio.to_thread(sys.stdin.readline):
        command = json.loads(line)
        if "acquire" in command:
            sources, errors, unavailable = [], [], False
            for tenant, resource in command["acquire"]:
                source, error = await acquire(tenant, resource)
                sources.append(source)
                if error:
                    errors.append(error)
                unavailable = unavailable or cache.unavailable
            answer({"sources": sources, "errors": errors, "unavailable": unavailable})
        else:
            tenant, resource = command["reach"]
            for _ in range(REACH_POLLS):
                await acquire(tenant, resource)
                if not cache.unavailable:
                    break
                await asyncio.sleep(REACH_PAUSE)
            answer({"reached": not cache.unavailable})
    for app in apps.values():
        await app.aclose()
    await cache.aclose()


def main() -> None:
    api, topology, target, base_url, prefix = sys.argv[1:6]
    if api == "sync":
        run_sync(topology, target, base_url, prefix)
    else:
        asyncio.run(run_async(topology, target, base_url, prefix))


if __name__ == "__main__":
    main()
