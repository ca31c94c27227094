"""Access hooks and suggested partition keys (identitylib extension)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import pytest

from identitylib._cache import (
    CacheAccess,
    SerializableTokenCache,
    TokenCache,
    app_partition_key,
    assertion_hash,
    obo_partition_key,
    user_partition_key,
)

from ._builders import NOW, at_query, client_credentials_event, user_event


def test_partition_keys():
    assert app_partition_key("cid", "tid") == "cid_tid_AppTokenCache"
    assert user_partition_key("oid.tid") == "oid.tid"
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"abc").digest()).decode().rstrip("=")
    assert assertion_hash("abc") == expected == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    assert assertion_hash(b"abc") == expected
    assert obo_partition_key("abc") == assertion_hash("abc")


@pytest.mark.parametrize("cache_class", [TokenCache, SerializableTokenCache])
def test_hooks_receive_partition_and_state(cache_class):
    calls: list[tuple[str, CacheAccess]] = []
    cache = cache_class(
        before_access=lambda access: calls.append(("before", access)),
        after_access=lambda access: calls.append(("after", access)),
    )
    with cache.access("cid_tid_AppTokenCache", "cid", is_app_cache=True) as access:
        assert calls == [("before", access)]
        cache.add(client_credentials_event(), now=NOW)
    (_, before), (_, after) = calls
    assert before.partition_key == after.partition_key == "cid_tid_AppTokenCache"
    assert before.client_id == "cid"
    assert before.is_app_cache is True
    assert before.cache is cache
    assert before.has_state_changed is False
    assert after.has_state_changed is True
    if isinstance(cache, SerializableTokenCache):
        cache.serialize()

    calls.clear()
    with cache.access("oid1.tid", "cid", is_app_cache=False):
        list(cache.search("AccessToken", query=at_query(None), now=NOW))
    assert [name for name, _ in calls] == ["before", "after"]
    assert calls[1][1].has_state_changed is False
    assert calls[1][1].is_app_cache is False


def test_after_hook_runs_when_the_block_raises():
    seen: list[CacheAccess] = []
    cache = TokenCache(after_access=seen.append)

    def failing_block() -> None:
        with cache.access(None, "cid", is_app_cache=False):
            cache.add(user_event(), now=NOW)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_block()
    assert len(seen) == 1
    assert seen[0].has_state_changed is True
    assert seen[0].partition_key is None


def test_access_is_frozen():
    access = CacheAccess(cache=TokenCache(), partition_key="p", client_id="c", is_app_cache=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        access.partition_key = "q"  # type: ignore[misc]


def test_subclass_hooks_implement_a_partitioned_store():
    """A custom serializer keeping one blob per partition, MSAL.NET style."""
    store: dict[str, str] = {}

    class PartitionedCache(SerializableTokenCache):
        def on_before_access(self, access: CacheAccess) -> None:
            self.deserialize(store.get(access.partition_key or ""))

        def on_after_access(self, access: CacheAccess) -> None:
            if access.has_state_changed:
                store[access.partition_key or ""] = self.serialize()

    cache = PartitionedCache()
    with cache.access("alice", "cid", is_app_cache=False):
        cache.add(user_event(uid="alice", access_token="alice-at"), now=NOW)
    with cache.access("bob", "cid", is_app_cache=False):
        cache.add(user_event(uid="bob", access_token="bob-at"), now=NOW)
    assert set(store) == {"alice", "bob"}
    assert "alice-at" in store["alice"]
    assert "alice-at" not in store["bob"]
    with cache.access("alice", "cid", is_app_cache=False):
        found = cache.search(
            "AccessToken", target=["User.Read"], query=at_query("alice.tid"), now=NOW
        )
        assert [e["secret"] for e in found] == ["alice-at"]
    saved = dict(store)
    with cache.access("alice", "cid", is_app_cache=False):
        pass
    assert store == saved


def test_constructor_stays_msal_compatible():
    cache = TokenCache()
    with cache.access("p", "cid", is_app_cache=False):
        pass  # No hooks: nothing happens.
    with pytest.raises(TypeError):
        TokenCache(print)  # type: ignore[misc]
    assert TokenCache.CredentialType.ACCESS_TOKEN == "AccessToken"
    assert TokenCache.CredentialType.ACCESS_TOKEN_EXTENDED == "atext"
    assert SerializableTokenCache.AuthorityType.MSSTS == "MSSTS"
    assert set(cache.key_makers) == {
        "AccessToken",
        "RefreshToken",
        "IdToken",
        "Account",
        "AppMetadata",
    }
