"""RedisTokenCache: partitions, merging, expiry, the first level, and Redis outages."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from identitylib._cache import assertion_hash, obo_partition_key, user_partition_key
from identitylib._cache._serialization import load_state
from identitylib._redis import RedisTokenCache
from identitylib.emulator import Emulator
from tests._idp import token_posts
from tests.cache._builders import at_query, client_credentials_event, user_event

from ._apps import (
    CLIENT_ID,
    TENANT_A,
    TENANT_B,
    THREAD_GRID,
    app_key,
    audience,
    make_app,
    resource,
    thread_scope,
)
from ._silent import SilentServer
from .conftest import RedisServer

NOW = int(time.time())  # reset before each test (below): tokens are written "now"
SCOPE = "api://backend/.default"
# user_event / client_credentials_event use the tenant "tid" and the client "cid".
USER_KEY = "identitylib:partition:oid1.tid"
APP_KEY = "identitylib:partition:cid_tid_AppTokenCache"


@pytest.fixture(autouse=True)
def _now() -> None:
    global NOW
    NOW = int(time.time())


@pytest.fixture
def cache(redis_url: str) -> Iterator[RedisTokenCache]:
    made = RedisTokenCache(url=redis_url)
    yield made
    made.close()


def stored(client: Any, key: str) -> dict[str, Any]:
    raw = client.get(key)
    assert raw is not None, f"{key} is not in Redis"
    return load_state(raw)


def secrets(state: dict[str, Any], section: str = "AccessToken") -> set[str]:
    return {entry["secret"] for entry in state.get(section, {}).values()}


def calls(client: Any, command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def add_app(cache: RedisTokenCache, scope: str, secret: str, *, at: int = 0, **kw: Any) -> None:
    """Add an app token written at ``at`` (default: the current time)."""
    with cache.access("cid_tid_AppTokenCache", "cid", True):
        event = client_credentials_event([scope], access_token=secret, **kw)
        cache.add(event, now=at or int(time.time()))


# ------------------------------------------------------------------ construction


def test_importing_the_package_does_not_import_redis() -> None:
    code = "import sys, identitylib._redis; assert 'redis' not in sys.modules, 'imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis -> ImportError
    with pytest.raises(ImportError, match=r"identitylib\[redis\]"):
        RedisTokenCache()


def test_arguments_are_checked(redis_url: str) -> None:
    with pytest.raises(ValueError, match="either"):
        RedisTokenCache(object(), url=redis_url)
    with pytest.raises(ValueError, match="socket_timeout"):
        RedisTokenCache(url=redis_url, socket_timeout=0)
    with pytest.raises(TypeError, match="idle_ttl"):
        RedisTokenCache(url=redis_url, idle_ttl=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="first_level_ttl"):
        RedisTokenCache(url=redis_url, first_level_ttl=-1)


def test_a_ready_client_and_a_prefix(redis_server: RedisServer, redis_client: Any) -> None:
    cache = RedisTokenCache(redis_server.client(), prefix="tenant42:")
    with cache.access("p", "cid", False):
        cache.add(user_event(), now=NOW)
    assert redis_client.exists("tenant42:partition:p")
    assert cache.redis_key(None) == "tenant42:shared"


# ------------------------------------------------------------------ partitions


def test_app_tokens_are_partitioned_by_client_and_tenant(
    cache: RedisTokenCache, redis_client: Any, idp: Emulator
) -> None:
    for tenant in (TENANT_A, TENANT_B):
        result = make_app(cache, idp.base_url, tenant).acquire_token_for_client([SCOPE])
        assert result["token_source"] == "identity_provider"
    keys = sorted(k.decode() for k in redis_client.keys("*"))
    assert keys == sorted([app_key(TENANT_A), app_key(TENANT_B)])
    for tenant in (TENANT_A, TENANT_B):
        state = stored(redis_client, app_key(tenant))
        assert [e["realm"] for e in state["AccessToken"].values()] == [tenant]
        assert all(e["client_id"] == CLIENT_ID for e in state["AccessToken"].values())


def test_user_tokens_go_to_the_home_account_partition(
    cache: RedisTokenCache, redis_client: Any
) -> None:
    with cache.access(user_partition_key("oid1.tid"), "cid", False):
        cache.add(user_event(), now=NOW)
    with cache.access(user_partition_key("oid2.tid"), "cid", False):
        cache.add(user_event(uid="oid2", access_token="at2", refresh_token="rt2"), now=NOW)
    alice = stored(redis_client, USER_KEY)
    assert secrets(alice) == {"user-at"}
    assert secrets(alice, "RefreshToken") == {"user-rt"}
    assert len(alice["IdToken"]) == len(alice["Account"]) == 1
    bob = stored(redis_client, "identitylib:partition:oid2.tid")
    assert secrets(bob, "RefreshToken") == {"rt2"}


def test_on_behalf_of_tokens_go_to_the_assertion_partition(
    redis_url: str, cache: RedisTokenCache, redis_client: Any
) -> None:
    assertion = "header.incoming-user-token.signature"
    partition = obo_partition_key(assertion)
    event = user_event(access_token="obo-at", user_assertion_hash=assertion_hash(assertion))
    with cache.access(partition, "cid", False):
        cache.add(event, now=NOW)
    state = stored(redis_client, f"identitylib:partition:{partition}")
    (entry,) = state["AccessToken"].values()
    assert entry["user_assertion_hash"] == assertion_hash(assertion) == partition
    # Another machine finds it under the same partition, with the hash (or the user's
    # home account, as acquire_token_silent asks), never with an app-token query.
    other = RedisTokenCache(url=redis_url)
    with other.access(partition, "cid", False):
        query = at_query(user_assertion_hash=assertion_hash(assertion))
        found = list(other.search("AccessToken", target=["User.Read"], query=query, now=NOW))
        users = list(other.search("AccessToken", target=["User.Read"], query=at_query(), now=NOW))
        app = at_query(None)
        apps = list(other.search("AccessToken", target=["User.Read"], query=app, now=NOW))
    assert [e["secret"] for e in found] == [e["secret"] for e in users] == ["obo-at"]
    assert apps == []


def test_accesses_without_a_partition_share_one_key(
    cache: RedisTokenCache, redis_client: Any
) -> None:
    with cache.access(None, "cid", False):
        cache.add(user_event(), now=NOW)
    assert redis_client.exists("identitylib:shared")
    assert cache.redis_key(None) == "identitylib:shared"


def test_one_instance_serves_many_partitions_without_mixing(cache: RedisTokenCache) -> None:
    add_app(cache, "s-app", "app-secret")
    with cache.access("oid1.tid", "cid", False):
        cache.add(user_event(), now=NOW)
    with cache.access("oid1.tid", "cid", False):
        assert secrets(cache._cache) == {"user-at"}
    with cache.access("cid_tid_AppTokenCache", "cid", True):
        assert secrets(cache._cache) == {"app-secret"}
        with cache.access("oid1.tid", "cid", False):  # nested: restored afterwards
            assert secrets(cache._cache) == {"user-at"}
        assert secrets(cache._cache) == {"app-secret"}
    # Outside any access: an empty scratch partition.
    assert list(cache.search("AccessToken", query=at_query(None), now=NOW)) == []


# ------------------------------------------------------------------ merging


def test_concurrent_writers_keep_each_others_tokens(redis_url: str, redis_client: Any) -> None:
    one, two = RedisTokenCache(url=redis_url), RedisTokenCache(url=redis_url)
    with one.access("cid_tid_AppTokenCache", "cid", True):
        one.add(client_credentials_event(["s1"], access_token="t1"), now=NOW)
        # Meanwhile, on another machine, with the partition loaded before t1 was saved:
        with two.access("cid_tid_AppTokenCache", "cid", True):
            two.add(client_credentials_event(["s2"], access_token="t2"), now=NOW)
    assert secrets(stored(redis_client, APP_KEY)) == {"t1", "t2"}
    with one.access("cid_tid_AppTokenCache", "cid", True):
        assert secrets(one._cache) == {"t1", "t2"}  # the write brought t2 back


def test_the_newest_entry_wins(redis_url: str, redis_client: Any) -> None:
    one, two = RedisTokenCache(url=redis_url), RedisTokenCache(url=redis_url)
    with two.access("cid_tid_AppTokenCache", "cid", True):  # loaded before "newer" existed
        with one.access("cid_tid_AppTokenCache", "cid", True):
            one.add(client_credentials_event(["s"], access_token="newer"), now=NOW + 10)
        two.add(client_credentials_event(["s"], access_token="older"), now=NOW)
    assert secrets(stored(redis_client, APP_KEY)) == {"newer"}
    with two.access("cid_tid_AppTokenCache", "cid", True):
        assert secrets(two._cache) == {"newer"}  # two's copy was refreshed by its write


def test_a_removal_does_not_undo_a_newer_write(redis_url: str, redis_client: Any) -> None:
    one, two = RedisTokenCache(url=redis_url), RedisTokenCache(url=redis_url)
    add_app(one, "s", "v1")
    with one.access("cid_tid_AppTokenCache", "cid", True):
        (old,) = one._cache["AccessToken"].values()
        with two.access("cid_tid_AppTokenCache", "cid", True):
            two.add(client_credentials_event(["s"], access_token="v2"), now=NOW + 5)
        one.remove_at(old)  # removes v1, the version it knew
    assert secrets(stored(redis_client, APP_KEY)) == {"v2"}
    with two.access("cid_tid_AppTokenCache", "cid", True):
        (current,) = two._cache["AccessToken"].values()
        two.remove_at(current)
    assert redis_client.exists(APP_KEY) == 0  # nothing but app metadata left: key deleted


def test_a_removed_account_is_gone_everywhere(redis_url: str, redis_client: Any) -> None:
    one, two = RedisTokenCache(url=redis_url), RedisTokenCache(url=redis_url)
    with one.access("oid1.tid", "cid", False):
        one.add(user_event(), now=NOW)
    with two.access("oid1.tid", "cid", False):
        for kind in ("AccessToken", "RefreshToken", "IdToken", "Account"):
            for entry in list(two._cache[kind].values()):
                two.modify(kind, entry)  # what remove_account does
    assert redis_client.exists(USER_KEY) == 0
    one.clear_first_level()
    with one.access("oid1.tid", "cid", False):
        assert list(one.search("RefreshToken", query={"home_account_id": "oid1.tid"})) == []


def test_replacing_the_content_replaces_the_stored_value(
    cache: RedisTokenCache, redis_client: Any
) -> None:
    add_app(cache, "s1", "t1")
    with cache.access("cid_tid_AppTokenCache", "cid", True):
        state = json.loads(json.dumps(cache._cache))
        (key,) = state["AccessToken"]
        state["AccessToken"][key]["secret"] = "edited"
        cache._cache = state  # what a persistence layer that loads a blob would do
    assert secrets(stored(redis_client, APP_KEY)) == {"edited"}


def test_an_invalid_stored_value_is_ignored_then_overwritten(
    cache: RedisTokenCache, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    redis_client.set(APP_KEY, "{not json")
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        add_app(cache, "s1", "t1")
    assert "not valid" in caplog.text
    assert secrets(stored(redis_client, APP_KEY)) == {"t1"}


# ------------------------------------------------------------------ expiry


def test_app_partitions_expire_with_their_latest_token(
    cache: RedisTokenCache, redis_client: Any
) -> None:
    add_app(cache, "short", "t-short", expires_in=600)
    assert 590 <= redis_client.ttl(APP_KEY) <= 600
    add_app(cache, "long", "t-long", expires_in=7200)
    assert 7190 <= redis_client.ttl(APP_KEY) <= 7200


def test_partitions_with_refresh_tokens_expire_after_inactivity(
    redis_url: str, redis_client: Any
) -> None:
    cache = RedisTokenCache(url=redis_url, idle_ttl=5000)
    with cache.access("oid1.tid", "cid", False):
        cache.add(user_event(expires_in=600), now=int(time.time()))
    assert 4990 <= redis_client.ttl(USER_KEY) <= 5000
    default = RedisTokenCache(url=redis_url)
    with default.access("oid2.tid", "cid", False):
        default.add(user_event(uid="oid2"), now=NOW)
    ninety_days = 90 * 24 * 3600
    assert ninety_days - 10 <= redis_client.ttl("identitylib:partition:oid2.tid") <= ninety_days


def test_expired_tokens_are_dropped_when_writing(cache: RedisTokenCache, redis_client: Any) -> None:
    add_app(cache, "s1", "t1", expires_in=600, at=NOW)
    cache._wallclock = lambda: NOW + 1000  # t1 has expired when t2 is written
    add_app(cache, "s2", "t2", expires_in=3600, at=NOW + 1000)
    assert secrets(stored(redis_client, APP_KEY)) == {"t2"}
    cache._wallclock = lambda: NOW + 5000  # only app metadata would be left
    with cache.access("cid_tid_AppTokenCache", "cid", True):
        list(cache.search("AccessToken", query=at_query(None), now=NOW + 5000))  # purges t2
    assert redis_client.exists(APP_KEY) == 0


# ------------------------------------------------------------------ first level


class CountingClient:
    """A redis client wrapper counting round trips (GETs and merge-script runs)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.gets = 0
        self.merges = 0

    def get(self, key: str) -> Any:
        self.gets += 1
        return self.client.get(key)

    def register_script(self, script: str) -> Any:
        registered = self.client.register_script(script)

        def run(**kw: Any) -> Any:
            self.merges += 1
            return registered(**kw)

        return run


def test_the_first_level_saves_round_trips(
    redis_server: RedisServer, redis_url: str, idp: Emulator
) -> None:
    client = CountingClient(redis_server.client())
    cache = RedisTokenCache(client, first_level_ttl=60)
    app = make_app(cache, idp.base_url)
    assert app.acquire_token_for_client([SCOPE])["token_source"] == "identity_provider"
    assert (client.gets, client.merges) == (1, 1)  # the lookup's load; the write's merge
    for _ in range(20):
        assert app.acquire_token_for_client([SCOPE])["token_source"] == "cache"
    assert (client.gets, client.merges) == (1, 1)
    # Once the first level is older than its TTL, one GET revalidates it.
    clock = [time.monotonic() + 61]
    cache._monotonic = lambda: clock[0]
    for _ in range(5):
        assert app.acquire_token_for_client([SCOPE])["token_source"] == "cache"
    assert (client.gets, client.merges) == (2, 1)


def test_the_server_sees_no_command_for_first_level_hits(
    redis_url: str, redis_client: Any, idp: Emulator
) -> None:
    cache = RedisTokenCache(url=redis_url, first_level_ttl=60)
    app = make_app(cache, idp.base_url)
    app.acquire_token_for_client([SCOPE])
    before = calls(redis_client, "get"), calls(redis_client, "evalsha")
    for _ in range(10):
        assert app.acquire_token_for_client([SCOPE])["token_source"] == "cache"
    assert (calls(redis_client, "get"), calls(redis_client, "evalsha")) == before


def test_without_a_first_level_every_access_reads_redis(
    redis_url: str, redis_client: Any, idp: Emulator
) -> None:
    cache = RedisTokenCache(url=redis_url, first_level=False)
    app = make_app(cache, idp.base_url)
    app.acquire_token_for_client([SCOPE])
    before = calls(redis_client, "get")
    for _ in range(5):
        assert app.acquire_token_for_client([SCOPE])["token_source"] == "cache"
    assert calls(redis_client, "get") == before + 5  # hits only: no script, so no GET in it
    assert cache._partitions == {}


def test_another_process_sees_a_token_once_its_first_level_is_stale(
    redis_url: str, idp: Emulator
) -> None:
    writer = RedisTokenCache(url=redis_url)
    reader = RedisTokenCache(url=redis_url, first_level_ttl=60)
    reader_app = make_app(reader, idp.base_url)
    reader_app.acquire_token_for_client(["api://other/.default"])  # loads the partition
    written = make_app(writer, idp.base_url).acquire_token_for_client([SCOPE])
    posts = token_posts(idp)
    clock = [time.monotonic() + 61]
    reader._monotonic = lambda: clock[0]
    read = reader_app.acquire_token_for_client([SCOPE])
    assert (read["access_token"], read["token_source"]) == (written["access_token"], "cache")
    assert token_posts(idp) == posts == 2


def test_the_first_level_is_bounded(redis_url: str) -> None:
    cache = RedisTokenCache(url=redis_url, first_level_max_partitions=3)
    for n in range(10):
        with cache.access(f"user{n}", "cid", False):
            cache.add(user_event(uid=f"user{n}"), now=NOW)
    assert list(cache._partitions) == [cache.redis_key(f"user{n}") for n in (7, 8, 9)]


# ------------------------------------------------------------------ threads


def test_threads_sharing_one_instance(redis_url: str, redis_client: Any, idp: Emulator) -> None:
    cache = RedisTokenCache(url=redis_url, first_level_ttl=0.01)
    apps = [make_app(cache, idp.base_url, tenant) for tenant in (TENANT_A, TENANT_B)]
    errors: list[BaseException] = []
    threads_count, per_thread = THREAD_GRID

    def work(n: int) -> None:
        try:
            for i in range(per_thread):
                scope = thread_scope(n, i)
                result = apps[n % 2].acquire_token_for_client([scope])
                assert audience(result["access_token"]) == resource(scope)
                with cache.access(f"user{n}", "cid", False):
                    cache.add(user_event(uid=f"u{n}", access_token=f"u{n}-{i}"), now=NOW + i)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    for tenant, first in ((TENANT_A, 0), (TENANT_B, 1)):
        targets = {
            e["target"] for e in stored(redis_client, app_key(tenant))["AccessToken"].values()
        }
        assert targets == {
            thread_scope(n, i) for n in range(first, threads_count, 2) for i in range(per_thread)
        }
    assert token_posts(idp) == threads_count * per_thread  # every scope asked for once
    for n in range(threads_count):
        user = stored(redis_client, f"identitylib:partition:user{n}")
        newest = f"u{n}-{per_thread - 1}"
        assert secrets(user) == {newest}  # the same key rewritten: the newest stays


# ------------------------------------------------------------------ outages


def test_redis_down_then_back(
    redis_url: str,
    redis_server: RedisServer,
    redis_client: Any,
    caplog: pytest.LogCaptureFixture,
    idp: Emulator,
) -> None:
    cache = RedisTokenCache(url=redis_url, first_level_ttl=0, retry_interval=0)
    app = make_app(cache, idp.base_url)
    first = app.acquire_token_for_client(["api://one/.default"])
    assert first["token_source"] == "identity_provider"
    issued = [first["access_token"]]
    redis_server.stop()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="identitylib"):
        # Redis is down: a cached token comes from process memory...
        assert app.acquire_token_for_client(["api://one/.default"])["token_source"] == "cache"
        # ... new ones from the identity provider; they are cached in memory meanwhile.
        for name in ("two", "three"):
            result = app.acquire_token_for_client([f"api://{name}/.default"])
            assert result["token_source"] == "identity_provider"
            issued.append(result["access_token"])
        assert app.acquire_token_for_client(["api://two/.default"])["token_source"] == "cache"
        # A cache created during the outage works too (from the identity provider).
        late = RedisTokenCache(url=redis_url, retry_interval=0)
        issued.append(
            make_app(late, idp.base_url).acquire_token_for_client([SCOPE])["access_token"]
        )
        assert token_posts(idp) == 4
        assert cache.unavailable
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([r for r in warnings if "unreachable" in r.getMessage()]) == 2  # one per cache
    assert all(r.exc_info is None for r in warnings)
    assert not [token for token in issued if token in caplog.text]  # no token in any log line

    redis_server.start()  # empty: Redis kept nothing
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="identitylib"):
        assert app.acquire_token_for_client(["api://two/.default"])["token_source"] == "cache"
    assert "reachable again" in caplog.text
    assert not cache.unavailable
    # The tokens acquired during the outage were written when Redis came back...
    state = stored(redis_client, app_key(TENANT_A))
    assert {e["target"] for e in state["AccessToken"].values()} == {
        "api://two/.default",
        "api://three/.default",
    }
    # ... so other processes see them again, without asking the identity provider.
    other = make_app(RedisTokenCache(url=redis_url), idp.base_url)
    for name, token in (("two", issued[1]), ("three", issued[2])):
        result = other.acquire_token_for_client([f"api://{name}/.default"])
        assert (result["access_token"], result["token_source"]) == (token, "cache")
    assert token_posts(idp) == 4


def test_an_outage_is_retried_only_after_the_retry_interval(
    redis_url: str, redis_server: RedisServer, idp: Emulator
) -> None:
    cache = RedisTokenCache(url=redis_url, first_level_ttl=0, retry_interval=3600)
    app = make_app(cache, idp.base_url)
    app.acquire_token_for_client([SCOPE])
    redis_server.stop()
    app.acquire_token_for_client([SCOPE])
    assert cache.unavailable
    redis_server.start()
    assert app.acquire_token_for_client([SCOPE])["token_source"] == "cache"
    assert cache.unavailable  # not retried yet: still serving from memory
    cache._retry_at = 0  # the interval has passed
    # Redis is back, and its content is the truth: it restarted empty.
    assert app.acquire_token_for_client([SCOPE])["token_source"] == "identity_provider"
    assert not cache.unavailable


@pytest.fixture
def silent_server(redis_package: None) -> Iterator[SilentServer]:
    """A hung Redis: accepts connections and never answers."""
    with SilentServer() as server:
        yield server


def test_a_hung_redis_times_out_and_is_not_waited_for_again(
    silent_server: SilentServer, caplog: pytest.LogCaptureFixture, idp: Emulator
) -> None:
    cache = RedisTokenCache(url=silent_server.url, socket_timeout=0.2, retry_interval=3600)
    app = make_app(cache, idp.base_url)
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        first = app.acquire_token_for_client([SCOPE])  # times out, then the IdP
        tried = silent_server.connections
        again = app.acquire_token_for_client([SCOPE])  # memory, no new wait
    assert tried >= 1
    assert silent_server.connections == tried  # Redis was not tried again
    assert first["token_source"] == "identity_provider"
    assert again["token_source"] == "cache"
    assert "Timeout" in caplog.text
    assert cache.unavailable


def test_unexpected_client_errors_never_reach_the_app(
    redis_package: None, caplog: pytest.LogCaptureFixture, idp: Emulator
) -> None:
    class Broken:
        def register_script(self, script: str) -> Any:
            def run(**kw: Any) -> Any:
                raise RuntimeError("a bug in a custom client")

            return run

        def get(self, key: str) -> Any:
            raise RuntimeError("a bug in a custom client")

    cache = RedisTokenCache(Broken())
    app = make_app(cache, idp.base_url)
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        assert app.acquire_token_for_client([SCOPE])["token_source"] == "identity_provider"
    assert "Could not load" in caplog.text
    assert "Could not save" in caplog.text
