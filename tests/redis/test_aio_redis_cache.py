"""identitylib.aio's RedisTokenCache: the aio apps against the emulator and a real Redis,
with the hooks awaited on the event loop (no thread), outages, and interop with the sync
cache."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import identitylib
from identitylib import aio
from identitylib._cache import obo_partition_key
from identitylib._cache._serialization import load_state
from identitylib._redis import RedisTokenCache as SyncRedisTokenCache
from identitylib.aio import RedisTokenCache
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_ID,
    Emulator,
)
from tests._blocking import BlockingCalls
from tests._servers import unavailable
from tests.aio._support import (
    ALICE,
    APP_SCOPES,
    USER_SCOPES,
    run,
    token_posts,
    user_assertion,
)
from tests.cache._builders import client_credentials_event

from ._silent import SilentServer
from .conftest import RedisServer

GRAPH_APP = ["https://graph.microsoft.com/.default"]
GRAPH = ["User.Read"]
APP_PARTITION = "cid_tid_AppTokenCache"  # client_credentials_event: client "cid", tenant "tid"
APP_KEY = f"identitylib:partition:{APP_PARTITION}"


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The session's emulator (identitylib's pytest plugin), for the aio apps (httpx)."""
    try:
        import httpx  # noqa: F401  (the aio apps' transport: the 'async' extra)
    except ImportError:
        unavailable("the httpx Python package (pip install -e '.[async]')")
    return emulator


def daemon(emu: Emulator, cache: Any) -> aio.ConfidentialClientApplication:
    return aio.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), token_cache=cache
    )


def sync_daemon(emu: Emulator, cache: Any) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), token_cache=cache
    )


def app_key(emu: Emulator) -> str:
    assert emu.authority().endswith(DEMO_TENANT_ID)
    return f"identitylib:partition:{DEMO_DAEMON_ID}_{DEMO_TENANT_ID}_AppTokenCache"


def stored(client: Any, key: str) -> dict[str, Any]:
    raw = client.get(key)
    assert raw is not None, f"{key} is not in Redis"
    return load_state(raw)


def targets(state: dict[str, Any]) -> set[str]:
    return {entry["target"] for entry in state.get("AccessToken", {}).values()}


def secrets(sections: dict[str, Any]) -> set[str]:
    return {entry["secret"] for entry in sections.get("AccessToken", {}).values()}


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("identitylib") and r.levelno >= logging.WARNING
    ]


# ------------------------------------------------------------------ construction


def test_importing_the_module_does_not_import_redis() -> None:
    code = "import sys, identitylib.aio._redis_cache; assert 'redis' not in sys.modules, 'imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis -> ImportError
    with pytest.raises(ImportError, match=r"identitylib\[redis\]"):
        RedisTokenCache()


def test_the_client_made_from_a_url(redis_url: str) -> None:
    import redis.asyncio
    from redis.backoff import NoBackoff

    async def main() -> None:
        cache = RedisTokenCache(url=redis_url, socket_timeout=0.7)
        assert isinstance(cache.redis, redis.asyncio.Redis)
        options = cache.redis.connection_pool.connection_kwargs
        assert options["socket_timeout"] == options["socket_connect_timeout"] == 0.7
        retry = cache.redis.get_retry()
        assert retry._retries == 1  # one immediate reconnection, no backoff
        assert isinstance(retry._backoff, NoBackoff)
        assert await cache.redis.ping()
        await cache.aclose()

    run(main())


# ------------------------------------------------------------------ flows end to end


def test_client_credentials_then_cache(emu: Emulator, redis_url: str, redis_client: Any) -> None:
    async def main() -> None:
        async with RedisTokenCache(url=redis_url) as cache, daemon(emu, cache) as app:
            first = await app.acquire_token_for_client(APP_SCOPES)
            assert first["token_source"] == "identity_provider", first
            second = await app.acquire_token_for_client(APP_SCOPES)
            assert second["token_source"] == "cache"
            assert second["access_token"] == first["access_token"]

    run(main())
    assert token_posts(emu) == 1
    assert targets(stored(redis_client, app_key(emu))) == {APP_SCOPES[0]}


def test_password_then_silent(emu: Emulator, redis_url: str, redis_client: Any) -> None:
    async def main() -> None:
        async with RedisTokenCache(url=redis_url) as cache:
            app = aio.PublicClientApplication(
                DEMO_CLI_ID, authority=emu.authority(), token_cache=cache
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                signed_in = await app.acquire_token_by_username_password(*ALICE, USER_SCOPES)
            assert signed_in["token_source"] == "identity_provider", signed_in
            claims = signed_in["id_token_claims"]
            home = f"{claims['oid']}.{claims['tid']}"
            account = {"home_account_id": home}  # what a web app keeps in its session
            cached = await app.acquire_token_silent(USER_SCOPES, account)
            assert cached is not None
            assert cached["token_source"] == "cache"
            assert cached["access_token"] == signed_in["access_token"]
            state = stored(redis_client, f"identitylib:partition:{home}")
            assert len(state["RefreshToken"]) == 1
            await app.aclose()
        # Another process: a new cache and app find the user's tokens in Redis.
        async with RedisTokenCache(url=redis_url) as other:
            app = aio.PublicClientApplication(
                DEMO_CLI_ID, authority=emu.authority(), token_cache=other
            )
            again = await app.acquire_token_silent(USER_SCOPES, account)
            assert again is not None
            assert again["token_source"] == "cache"
            assert again["access_token"] == signed_in["access_token"]
            await app.aclose()

    run(main())
    assert token_posts(emu) == 1


def test_on_behalf_of_then_cache(emu: Emulator, redis_url: str, redis_client: Any) -> None:
    assertion = user_assertion(emu)
    emu.reset_requests()

    async def main() -> None:
        async with RedisTokenCache(url=redis_url) as cache:
            app = aio.ConfidentialClientApplication(
                DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority(), token_cache=cache
            )
            first = await app.acquire_token_on_behalf_of(assertion, GRAPH)
            assert first["token_source"] == "identity_provider", first
            second = await app.acquire_token_on_behalf_of(assertion, GRAPH)
            assert second["token_source"] == "cache"
            assert second["access_token"] == first["access_token"]
            await app.aclose()

    run(main())
    assert token_posts(emu) == 1
    key = f"identitylib:partition:{obo_partition_key(assertion)}"
    assert secrets(stored(redis_client, key)) != set()


def test_two_instances_share_tokens_through_redis(
    emu: Emulator, redis_url: str, redis_client: Any
) -> None:
    async def main() -> None:
        # Two app objects with their own caches: two processes, one Redis.
        async with RedisTokenCache(url=redis_url) as one, RedisTokenCache(url=redis_url) as two:
            first_app, second_app = daemon(emu, one), daemon(emu, two)
            first = await first_app.acquire_token_for_client(APP_SCOPES)
            assert first["token_source"] == "identity_provider"
            second = await second_app.acquire_token_for_client(APP_SCOPES)
            assert second["token_source"] == "cache"
            assert second["access_token"] == first["access_token"]
            # The other way round, while the first one's first level still holds its copy.
            got = await second_app.acquire_token_for_client(GRAPH_APP)
            assert got["token_source"] == "identity_provider"
            one.clear_first_level()
            hit = await first_app.acquire_token_for_client(GRAPH_APP)
            assert hit["token_source"] == "cache"
            assert hit["access_token"] == got["access_token"]
            for app in (first_app, second_app):
                await app.aclose()

    run(main())
    assert token_posts(emu) == 2
    assert targets(stored(redis_client, app_key(emu))) == {APP_SCOPES[0], GRAPH_APP[0]}


# ------------------------------------------------------------------ on the event loop


def test_the_hooks_run_on_the_loop_without_a_thread(
    emu: Emulator, redis_url: str, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    performed: list[tuple[int, str]] = []
    hooks: list[int] = []

    class Watched(RedisTokenCache):
        async def on_before_access_async(self, access: Any) -> None:
            hooks.append(threading.get_ident())
            await super().on_before_access_async(access)

        async def on_after_access_async(self, access: Any) -> None:
            hooks.append(threading.get_ident())
            await super().on_after_access_async(access)

    def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("asyncio.to_thread was called")

    def no_sync_client(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a blocking redis client was used")

    async def main() -> int:
        cache = Watched(url=redis_url, first_level=False)  # every access talks to Redis
        plain = cache._perform

        def perform(call: Any) -> Any:
            performed.append((threading.get_ident(), type(call).__name__))
            started = plain(call)
            assert inspect.isawaitable(started)
            return started

        cache._perform = perform  # type: ignore[method-assign]
        async with daemon(emu, cache) as app:
            for _ in range(3):
                result = await app.acquire_token_for_client(APP_SCOPES)
                assert "access_token" in result, result
        await cache.aclose()
        return threading.get_ident()

    with monkeypatch.context() as patch:
        patch.setattr(asyncio, "to_thread", no_thread)
        patch.setattr(redis.Redis, "execute_command", no_sync_client)
        loop_thread = run(main())
    assert hooks
    assert set(hooks) == {loop_thread}
    assert {thread for thread, _ in performed} == {loop_thread}
    assert {name for _, name in performed} == {"Get", "Merge"}
    assert targets(stored(redis_client, app_key(emu))) == {APP_SCOPES[0]}


def test_200_tasks_on_a_cold_cache_send_one_token_request(emu: Emulator, redis_url: str) -> None:
    async def main() -> list[dict[str, Any]]:
        async with RedisTokenCache(url=redis_url) as cache, daemon(emu, cache) as app:
            return await asyncio.gather(
                *(app.acquire_token_for_client(APP_SCOPES) for _ in range(200))
            )

    results = run(main())
    assert token_posts(emu) == 1
    assert len({r["access_token"] for r in results}) == 1


@pytest.mark.parametrize("first_level", [True, False])
def test_cache_hits_do_not_block_the_loop(emu: Emulator, redis_url: str, first_level: bool) -> None:
    async def main() -> list[str]:
        cache = RedisTokenCache(url=redis_url, first_level=first_level)
        async with cache, daemon(emu, cache) as app:
            await app.acquire_token_for_client(APP_SCOPES)  # warm up
            with BlockingCalls() as blocking:
                for _ in range(50):
                    hit = await app.acquire_token_for_client(APP_SCOPES)
                    assert hit["token_source"] == "cache"
                hits = await asyncio.gather(
                    *(app.acquire_token_for_client(APP_SCOPES) for _ in range(100))
                )
                assert all(h["token_source"] == "cache" for h in hits)
            return blocking.calls

    assert run(main()) == []
    assert token_posts(emu) == 1


# ------------------------------------------------------------------ outages


def test_redis_down_then_back(
    emu: Emulator,
    redis_url: str,
    redis_server: RedisServer,
    redis_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        cache = RedisTokenCache(url=redis_url, first_level_ttl=0, retry_interval=0)
        app = daemon(emu, cache)
        first = await app.acquire_token_for_client(APP_SCOPES)
        assert first["token_source"] == "identity_provider"
        await asyncio.get_running_loop().run_in_executor(None, redis_server.stop)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="identitylib"):
            # Redis is down: a cached token comes from process memory...
            hit = await app.acquire_token_for_client(APP_SCOPES)
            assert hit["token_source"] == "cache"
            # ... new ones from the identity provider, kept in memory meanwhile.
            new = await app.acquire_token_for_client(GRAPH_APP)
            assert new["token_source"] == "identity_provider"
            again = await app.acquire_token_for_client(GRAPH_APP)
            assert again["token_source"] == "cache"
            assert cache.unavailable
        found = cache_warnings(caplog)
        assert len(found) == 1, [r.getMessage() for r in found]
        assert "unreachable" in found[0].getMessage()
        assert found[0].exc_info is None
        for token in (first["access_token"], new["access_token"]):
            assert token not in caplog.text  # no token in any log line

        await asyncio.get_running_loop().run_in_executor(None, redis_server.start)  # empty
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="identitylib"):
            back = await app.acquire_token_for_client(GRAPH_APP)
            assert back["token_source"] == "cache"
        assert "reachable again" in caplog.text
        assert not cache.unavailable
        await app.aclose()
        await cache.aclose()

    run(main())
    # The token acquired during the outage was written when Redis came back...
    assert targets(stored(redis_client, app_key(emu))) == {GRAPH_APP[0]}
    posts = token_posts(emu)

    async def elsewhere() -> dict[str, Any]:  # ... so other processes see it again.
        async with RedisTokenCache(url=redis_url) as cache, daemon(emu, cache) as app:
            return await app.acquire_token_for_client(GRAPH_APP)

    assert run(elsewhere())["token_source"] == "cache"
    assert token_posts(emu) == posts


@pytest.fixture
def silent_server(redis_package: None) -> Iterator[SilentServer]:
    """A hung Redis: accepts connections and never answers."""
    with SilentServer() as server:
        yield server


def test_a_hung_redis_times_out_and_is_not_waited_for_again(
    emu: Emulator, silent_server: SilentServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[int, int]:
        cache = RedisTokenCache(url=silent_server.url, socket_timeout=0.5, retry_interval=3600)
        app = daemon(emu, cache)
        with caplog.at_level(logging.WARNING, logger="identitylib"):
            first = await app.acquire_token_for_client(APP_SCOPES)  # times out, then the IdP
            tried = silent_server.connections
            again = await app.acquire_token_for_client(APP_SCOPES)  # memory, no new wait
        assert first["token_source"] == "identity_provider"
        assert again["token_source"] == "cache"
        assert cache.unavailable
        await app.aclose()
        await cache.aclose()
        return tried, silent_server.connections

    tried, in_all = run(main())
    assert "Timeout" in caplog.text
    assert tried >= 1
    assert in_all == tried  # Redis was not tried again
    assert token_posts(emu) == 1


class FailingClient:
    """An asyncio client whose every call fails with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    async def get(self, key: str) -> Any:
        self.calls += 1
        raise self.error

    def register_script(self, script: str) -> Any:
        async def call(**kw: Any) -> Any:
            self.calls += 1
            raise self.error

        return call


def outage_errors() -> list[Any]:
    try:
        from redis import exceptions
    except ImportError:  # reported by the redis_package fixture
        return []
    return [
        exceptions.ConnectionError("Connection refused"),
        exceptions.TimeoutError("Timeout reading from socket"),
        exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
        ConnectionRefusedError(111, "Connect call failed"),
        asyncio.TimeoutError(),
    ]


@pytest.mark.parametrize("error", outage_errors(), ids=lambda e: type(e).__name__)
def test_asyncio_client_errors_are_outages(
    redis_package: None, error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> set[str]:
        client = FailingClient(error)
        cache = RedisTokenCache(client)
        with caplog.at_level(logging.DEBUG, logger="identitylib"):
            async with cache.access_async(APP_PARTITION, "cid", True):
                cache.add(client_credentials_event(["s"], access_token="t"), now=time.time())
            async with cache.access_async(APP_PARTITION, "cid", True):  # from memory
                found = secrets(cache._cache)
        assert client.calls == 1  # retried only after retry_interval
        assert cache.unavailable
        return found

    assert run(main()) == {"t"}
    found = cache_warnings(caplog)
    assert len(found) == 1
    assert "unreachable" in found[0].getMessage()


def test_unexpected_client_errors_never_reach_the_app(
    redis_package: None, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        cache = RedisTokenCache(FailingClient(RuntimeError("a bug in a custom client")))
        with caplog.at_level(logging.WARNING, logger="identitylib"):
            async with cache.access_async(APP_PARTITION, "cid", True):
                cache.add(client_credentials_event(["s"], access_token="t"), now=time.time())
        assert not cache.unavailable

    run(main())
    assert "Could not load" in caplog.text
    assert "Could not save" in caplog.text


class GatedClient:
    """A redis.asyncio client whose merge-script runs wait for ``gate``."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.gate = asyncio.Event()
        self.merging = asyncio.Event()

    async def get(self, key: str) -> Any:
        return await self.client.get(key)

    def register_script(self, script: str) -> Any:
        registered = self.client.register_script(script)

        async def call(**kw: Any) -> Any:
            self.merging.set()
            await self.gate.wait()
            return await registered(**kw)

        return call


def test_a_write_cancelled_midway_is_kept_and_written_later(
    redis_url: str, redis_client: Any
) -> None:
    import redis.asyncio

    async def main() -> None:
        client = GatedClient(redis.asyncio.Redis.from_url(redis_url))
        cache = RedisTokenCache(client)

        async def write() -> None:
            async with cache.access_async(APP_PARTITION, "cid", True):
                cache.add(client_credentials_event(["s"], access_token="t1"), now=time.time())

        task = asyncio.create_task(write())
        await asyncio.wait_for(client.merging.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cache._current is None  # back to the scratch content
        assert cache._stack == []
        assert cache._partitions[APP_KEY].pending  # the change is kept...
        client.gate.set()
        async with cache.access_async(APP_PARTITION, "cid", True):  # ... and written now
            assert secrets(cache._cache) == {"t1"}
        assert not cache._partitions[APP_KEY].pending
        await client.client.aclose()

    run(main())
    assert secrets(stored(redis_client, APP_KEY)) == {"t1"}


# ------------------------------------------------------------------ the sync API


def test_the_sync_api_refuses_it(emu: Emulator, redis_url: str) -> None:
    cache = RedisTokenCache(url=redis_url)
    assert cache.has_async_hooks
    with pytest.raises(TypeError, match=r"identitylib\.aio"):
        sync_daemon(emu, cache).acquire_token_for_client(APP_SCOPES)
    with pytest.raises(TypeError, match=r"identitylib\.aio"):
        cache.access(APP_PARTITION, "cid", True)
    with pytest.raises(TypeError, match="aclose"):
        cache.close()
    assert token_posts(emu) == 0
    run(cache.aclose())


def test_each_class_refuses_the_other_kind_of_client(redis_server: RedisServer) -> None:
    import redis.asyncio

    blocking = redis_server.client()
    with pytest.raises(TypeError, match=r"redis\.asyncio"):
        RedisTokenCache(blocking)
    blocking.close()

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        with pytest.raises(TypeError, match=r"identitylib\.aio\.RedisTokenCache"):
            SyncRedisTokenCache(client)
        cache = RedisTokenCache(client)
        await cache.aclose()  # not its client: left open
        assert await client.ping()
        await client.aclose()

    run(main())


def test_sync_and_aio_caches_interoperate(emu: Emulator, redis_url: str, redis_client: Any) -> None:
    sync_cache = SyncRedisTokenCache(url=redis_url)
    sync_app = sync_daemon(emu, sync_cache)
    from_sync = sync_app.acquire_token_for_client(APP_SCOPES)
    assert from_sync["token_source"] == "identity_provider"

    async def main() -> dict[str, Any]:
        async with RedisTokenCache(url=redis_url) as cache, daemon(emu, cache) as app:
            hit = await app.acquire_token_for_client(APP_SCOPES)
            assert hit["token_source"] == "cache"
            assert hit["access_token"] == from_sync["access_token"]
            return await app.acquire_token_for_client(GRAPH_APP)

    from_aio = run(main())
    assert from_aio["token_source"] == "identity_provider"
    sync_cache.clear_first_level()
    back = sync_app.acquire_token_for_client(GRAPH_APP)
    assert back["token_source"] == "cache"
    assert back["access_token"] == from_aio["access_token"]
    sync_cache.close()
    assert token_posts(emu) == 2
    state = json.loads(redis_client.get(app_key(emu)))
    assert targets(state) == {APP_SCOPES[0], GRAPH_APP[0]}
