"""A process that loads a big cache and serves one hit files only what the hit needs
(issue #18, "time to first token from a persisted cache"): the exact-request index is
built per partition (client id and realm) on the partition's first lookup, and the other
indices per section. Proven by counts of entries indexed, never by time. Both APIs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from identitylib import ConfidentialClientApplication, SerializableTokenCache, aio
from identitylib._cache._exact import request_key
from identitylib._cache._keys import CredentialType

from ._builders import scope_of, tenant_of

ENV = "login.microsoftonline.com"
CLIENT = "cid-0000"
TENANTS = 40
SCOPES = 5


def loaded_cache() -> SerializableTokenCache:
    now = int(time.time())
    tokens: dict[str, Any] = {}
    for i in range(TENANTS):
        for j in range(SCOPES):
            entry = {
                "credential_type": "AccessToken",
                "secret": f"t{i}-{j}",
                "home_account_id": None,
                "environment": ENV,
                "client_id": CLIENT,
                "target": scope_of(j),
                "realm": tenant_of(i),
                "token_type": "Bearer",
                "cached_at": str(now),
                "expires_on": str(now + 3600),
            }
            tokens[f"-{ENV}-accesstoken-{CLIENT}-{tenant_of(i)}-{scope_of(j)}"] = entry
    cache = SerializableTokenCache()
    cache.deserialize(json.dumps({"AccessToken": tokens}))
    return cache


def filed(cache: SerializableTokenCache) -> int:
    exact = cache._store.exact_index
    return 0 if exact is None else exact.filed


def test_one_hit_files_one_partition_of_a_loaded_cache() -> None:
    cache = loaded_cache()
    assert filed(cache) == 0
    app = ConfidentialClientApplication(
        CLIENT, "secret", authority=f"https://{ENV}/{tenant_of(7)}", token_cache=cache
    )
    result = app.acquire_token_for_client([scope_of(3)])
    assert (result["access_token"], result["token_source"]) == ("t7-3", "cache")
    assert filed(cache) == SCOPES  # the tenant's tokens, not TENANTS * SCOPES
    assert cache._store.indices_built() == []  # no other index was needed


def test_the_asyncio_api_files_one_partition_too() -> None:
    cache = loaded_cache()

    async def first_token() -> Any:
        app = aio.ConfidentialClientApplication(
            CLIENT, "secret", authority=f"https://{ENV}/{tenant_of(11)}", token_cache=cache
        )
        return await app.acquire_token_for_client([scope_of(0)])

    result = asyncio.run(first_token())
    assert (result["access_token"], result["token_source"]) == ("t11-0", "cache")
    assert filed(cache) == SCOPES


def test_writes_to_a_partition_not_filed_yet_are_filed_with_it() -> None:
    cache = loaded_cache()
    store = cache._store
    with cache._lock:
        store.exact_access_token(
            cache._cache, request_key(ENV, CLIENT, tenant_of(0), None, None, [scope_of(0)])
        )
    section = cache._cache[CredentialType.ACCESS_TOKEN]
    gone = f"-{ENV}-accesstoken-{CLIENT}-{tenant_of(5)}-{scope_of(1)}"
    cache.modify(CredentialType.ACCESS_TOKEN, section[gone])  # removed before filing
    kept = f"-{ENV}-accesstoken-{CLIENT}-{tenant_of(5)}-{scope_of(2)}"
    cache.modify(CredentialType.ACCESS_TOKEN, section[kept], {"secret": "renewed"})
    with cache._lock:
        removed = store.exact_access_token(
            cache._cache, request_key(ENV, CLIENT, tenant_of(5), None, None, [scope_of(1)])
        )
        renewed = store.exact_access_token(
            cache._cache, request_key(ENV, CLIENT, tenant_of(5), None, None, [scope_of(2)])
        )
    assert removed is None
    assert renewed is not None
    assert renewed[1]["secret"] == "renewed"
    assert filed(cache) == SCOPES + SCOPES - 1
