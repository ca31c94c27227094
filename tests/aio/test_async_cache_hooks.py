"""Token caches whose access hooks are coroutines, driven by the asyncio API."""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any

import pytest

import identitylib
from identitylib import aio
from identitylib._cache import CacheAccess, obo_partition_key
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_ID,
    Emulator,
    approve_device_code,
)
from identitylib.emulator._mi_sources import managed_identity_environment
from tests._blocking import BlockingCalls

from ._support import (
    ALICE,
    APP_SCOPES,
    USER_SCOPES,
    run,
    token_posts,
    user_assertion,
)


class AsyncStore:
    """An 'async database' of serialized partitions, with the hooks an app would write."""

    def __init__(self) -> None:
        self.rows: dict[Any, str] = {}
        self.calls: list[tuple[str, Any, bool]] = []
        self.threads: set[int] = set()
        self.inside = 0
        self.most_inside = 0
        self.cache = identitylib.SerializableTokenCache(
            before_access=self.before, after_access=self.after
        )

    async def before(self, access: CacheAccess) -> None:
        self.threads.add(threading.get_ident())
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        await asyncio.sleep(0)  # a round trip to the database
        self.calls.append(("before", access.partition_key, access.is_app_cache))
        access.cache.deserialize(self.rows.get(access.partition_key))  # type: ignore[attr-defined]

    async def after(self, access: CacheAccess) -> None:
        self.threads.add(threading.get_ident())
        self.calls.append(("after", access.partition_key, access.has_state_changed))
        if access.has_state_changed:
            await asyncio.sleep(0)
            self.rows[access.partition_key] = access.cache.serialize()  # type: ignore[attr-defined]
        self.inside -= 1


@pytest.fixture
def store() -> AsyncStore:
    return AsyncStore()


@pytest.fixture
def no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any asyncio.to_thread: async hooks never need a worker thread."""

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("asyncio.to_thread used")

    monkeypatch.setattr(asyncio, "to_thread", refuse)


def daemon(emu: Emulator, cache: Any) -> aio.ConfidentialClientApplication:
    return aio.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), token_cache=cache
    )


def test_the_cache_reports_async_hooks(store: AsyncStore) -> None:
    assert store.cache.has_async_hooks
    assert not identitylib.TokenCache().has_async_hooks
    assert not identitylib.TokenCache(before_access=lambda access: None).has_async_hooks

    class Hooked(identitylib.TokenCache):
        async def on_after_access_async(self, access: CacheAccess) -> None:
            pass

    assert Hooked().has_async_hooks


def test_client_credentials_await_the_hooks_on_the_loop(
    emu: Emulator, store: AsyncStore, no_threads: None
) -> None:
    async def main() -> list[dict[str, Any]]:
        async with daemon(emu, store.cache) as app:
            return [await app.acquire_token_for_client(APP_SCOPES) for _ in range(2)]

    first, second = run(main())
    assert first["token_source"] == "identity_provider"
    assert second["token_source"] == "cache"
    assert token_posts(emu) == 1
    partition = f"{DEMO_DAEMON_ID}_{DEMO_TENANT_ID}_AppTokenCache"
    assert store.calls == [
        ("before", partition, True),  # lookup: miss
        ("after", partition, False),
        ("before", partition, True),  # the new token written
        ("after", partition, True),
        ("before", partition, True),  # lookup: hit
        ("after", partition, False),
    ]
    assert store.threads == {threading.get_ident()}  # run() uses this thread's loop
    assert partition in store.rows


def test_user_flows_accounts_and_sign_out(
    emu: Emulator, store: AsyncStore, no_threads: None
) -> None:
    async def main() -> None:
        app = aio.PublicClientApplication(
            DEMO_CLI_ID, authority=emu.authority(), token_cache=store.cache
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            signed_in = await app.acquire_token_by_username_password(*ALICE, USER_SCOPES)
        assert "access_token" in signed_in, signed_in
        home = signed_in["id_token_claims"]["oid"] + "." + signed_in["id_token_claims"]["tid"]
        assert home in store.rows  # the user's partition holds the tokens
        (account,) = await app.get_accounts()  # partition None: the shared row
        assert account["home_account_id"] == home
        silent = await app.acquire_token_silent(USER_SCOPES, account)
        assert silent is not None
        assert silent["token_source"] == "cache"
        refreshed = await app.acquire_token_silent(["User.Read"], account)
        assert refreshed is not None
        assert refreshed["token_source"] == "identity_provider"
        await app.remove_account(account)
        assert await app.acquire_token_silent(USER_SCOPES, account) is None
        await app.aclose()

    store.rows[None] = ""
    # get_accounts reads the partition None: keep the user's rows there too, as an app
    # with one row per user would (msal's partition of get_accounts is None as well).
    original_after = store.after

    async def after(access: CacheAccess) -> None:
        await original_after(access)
        if access.has_state_changed and access.partition_key is not None:
            store.rows[None] = access.cache.serialize()  # type: ignore[attr-defined]

    store.cache._after_access = after
    run(main())
    assert store.most_inside == 1
    kinds = {kind for kind, _, _ in store.calls}
    assert kinds == {"before", "after"}


def test_on_behalf_of_partitions_by_assertion(
    emu: Emulator, store: AsyncStore, no_threads: None
) -> None:
    assertion = user_assertion(emu)

    async def main() -> list[dict[str, Any]]:
        app = aio.ConfidentialClientApplication(
            DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority(), token_cache=store.cache
        )
        results = [await app.acquire_token_on_behalf_of(assertion, ["User.Read"]) for _ in "ab"]
        await app.aclose()
        return results

    emu.reset_requests()
    first, second = run(main())
    assert first["token_source"] == "identity_provider"
    assert second["token_source"] == "cache"
    assert token_posts(emu) == 1
    assert {partition for _, partition, _ in store.calls} == {obo_partition_key(assertion)}


def test_200_tasks_one_request_and_one_access_at_a_time(emu: Emulator, store: AsyncStore) -> None:
    async def main() -> list[dict[str, Any]]:
        async with daemon(emu, store.cache) as app:
            calls = (app.acquire_token_for_client(APP_SCOPES) for _ in range(200))
            return list(await asyncio.gather(*calls))

    results = run(main())
    assert all("access_token" in r for r in results)
    assert token_posts(emu) == 1
    assert store.most_inside == 1  # the asyncio lock: accesses never overlap


def test_no_blocking_call_on_cache_hits(emu: Emulator, store: AsyncStore) -> None:
    async def main() -> None:
        async with daemon(emu, store.cache) as app:
            await app.acquire_token_for_client(APP_SCOPES)
            with BlockingCalls() as blocking:
                for _ in range(50):
                    result = await app.acquire_token_for_client(APP_SCOPES)
                    assert result["token_source"] == "cache"
            return blocking.calls

    assert run(main()) == []


def test_a_cancelled_access_releases_the_cache() -> None:
    entered: list[str] = []
    left: list[str] = []

    async def main() -> None:
        block = asyncio.Event()

        async def before(access: CacheAccess) -> None:
            entered.append(str(access.partition_key))
            if access.partition_key == "stuck":
                await block.wait()  # this access hangs in its hook

        async def after(access: CacheAccess) -> None:
            left.append(str(access.partition_key))

        cache = identitylib.TokenCache(before_access=before, after_access=after)

        async def use(partition: str) -> None:
            async with cache.access_async(partition, "client", False):
                await asyncio.sleep(0)

        stuck = asyncio.ensure_future(use("stuck"))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(use("next"))  # waits for the cache's lock
        await asyncio.sleep(0.05)
        assert not waiting.done()
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        await asyncio.wait_for(waiting, 10)

        inner = asyncio.ensure_future(use("inner"))  # cancelled inside the block
        await asyncio.sleep(0)
        inner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await inner

    run(main())
    assert entered == ["stuck", "next", "inner"]
    assert left == ["next", "inner"]  # the before hook of "stuck" never finished


def test_the_after_hook_runs_when_the_work_fails(emu: Emulator) -> None:
    seen: list[str] = []

    async def after(access: CacheAccess) -> None:
        seen.append("after")

    cache = identitylib.TokenCache(after_access=after)

    def broken_add(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    cache.add = broken_add  # type: ignore[method-assign]

    async def main() -> None:
        async with daemon(emu, cache) as app:
            with pytest.raises(RuntimeError, match="disk full"):
                await app.acquire_token_for_client(APP_SCOPES)
            seen.clear()
            del cache.add  # the next call works and its accesses are balanced
            assert "access_token" in await app.acquire_token_for_client(APP_SCOPES)

    run(main())
    assert seen == ["after", "after"]


def test_hooks_may_mix_sync_and_async(emu: Emulator) -> None:
    calls: list[str] = []

    async def before(access: CacheAccess) -> None:
        calls.append("before")

    def after(access: CacheAccess) -> None:
        calls.append("after")

    cache = identitylib.TokenCache(before_access=before, after_access=after)

    async def main() -> None:
        async with daemon(emu, cache) as app:
            await app.acquire_token_for_client(APP_SCOPES)

    run(main())
    assert calls == ["before", "after"] * 2


def test_the_sync_api_refuses_such_a_cache_clearly(emu: Emulator, store: AsyncStore) -> None:
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), token_cache=store.cache
    )
    with pytest.raises(TypeError, match=r"coroutines: use it with the identitylib\.aio"):
        app.acquire_token_for_client(APP_SCOPES)
    with pytest.raises(TypeError, match=r"identitylib\.aio"):
        app.get_accounts()
    with pytest.raises(TypeError, match=r"identitylib\.aio"), store.cache.access(None, "c", False):
        pass


def test_blocking_code_inside_an_async_access_is_a_no_op(store: AsyncStore) -> None:
    async def main() -> None:
        async with store.cache.access_async("p", "client", False) as access:
            assert access is not None
            with store.cache.access("p", "client", False) as inner:
                assert inner is None
            async with store.cache.access_async("p", "client", False) as nested:
                assert nested is None

    run(main())
    assert [kind for kind, _, _ in store.calls] == ["before", "after"]


def test_device_code_sign_in_from_a_worker_thread(emu: Emulator, store: AsyncStore) -> None:
    """``acquire_token`` runs the sync method in a worker thread: its cache accesses are
    bridged to the event loop, where the coroutine hooks run."""
    loop_threads: set[int] = set()

    async def main() -> dict[str, Any]:
        loop_threads.add(threading.get_ident())
        app = aio.PublicClientApplication(
            DEMO_CLI_ID, authority=emu.authority(), token_cache=store.cache
        )

        def show(flow: dict[str, Any]) -> None:  # called in the worker thread
            threading.Thread(
                target=approve_device_code,
                args=(flow["verification_uri"], flow["user_code"], *ALICE),
                daemon=True,
            ).start()

        result = await app.acquire_token(USER_SCOPES, device_code_callback=show)
        await app.aclose()
        return result

    result = run(main())
    assert "access_token" in result, result
    assert store.threads == loop_threads
    assert any(kind == "after" and changed for kind, _, changed in store.calls)


def test_managed_identity_with_async_hooks(
    emu: Emulator, store: AsyncStore, mi_env: pytest.MonkeyPatch
) -> None:
    for name, value in managed_identity_environment(emu, "app_service").items():
        mi_env.setenv(name, value)

    async def main() -> list[dict[str, Any]]:
        async with aio.ManagedIdentityClient(
            identitylib.SystemAssignedManagedIdentity(), token_cache=store.cache
        ) as client:
            resource = "https://management.azure.com"
            return [await client.acquire_token_for_client(resource=resource) for _ in "ab"]

    first, second = run(main())
    assert first["token_source"] == "identity_provider"
    assert second["token_source"] == "cache"
    assert store.threads == {threading.get_ident()}
    assert any(kind == "after" and changed for kind, _, changed in store.calls)


def test_a_worker_thread_access_runs_the_hooks_on_the_loop() -> None:
    from identitylib._cache._async_access import bridge_to

    hook_threads: list[int] = []
    fail: dict[str, bool] = {"before": False, "after": False}

    async def before(access: CacheAccess) -> None:
        hook_threads.append(threading.get_ident())
        if fail["before"]:
            raise OSError("store down")

    async def after(access: CacheAccess) -> None:
        hook_threads.append(threading.get_ident())
        if fail["after"]:
            raise OSError("write failed")

    cache = identitylib.TokenCache(before_access=before, after_access=after)

    def in_worker(loop: asyncio.AbstractEventLoop) -> list[str]:
        bridge_to(loop)
        outcomes = []
        for failing in (None, "before", "after"):
            fail["before"] = failing == "before"
            fail["after"] = failing == "after"
            try:
                with cache.access("p", "client", False) as access:
                    assert access is not None
                    assert access.partition_key == "p"
                    with cache.access("p", "client", False) as inner:  # nested: no-op
                        assert inner is None
                outcomes.append("ok")
            except OSError as error:
                outcomes.append(str(error))
        return outcomes

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        return await asyncio.to_thread(in_worker, loop)

    assert run(main()) == ["ok", "store down", "write failed"]
    assert set(hook_threads) == {threading.get_ident()}
    assert len(hook_threads) == 5  # before+after, before (failed), before+after (failed)


def test_hooks_may_use_to_thread_while_workers_wait_on_them(
    emu: Emulator, mi_env: pytest.MonkeyPatch
) -> None:
    """Many managed identity misses at once: each waits in an aio worker thread for a cache
    access on the loop, whose hook needs the loop's default executor. The aio workers
    come from a pool of their own, so the hooks always get a thread."""
    for name, value in managed_identity_environment(emu, "app_service").items():
        mi_env.setenv(name, value)

    async def before(access: CacheAccess) -> None:
        await asyncio.to_thread(threading.Event().wait, 0.001)  # a blocking driver

    cache = identitylib.TokenCache(before_access=before)

    async def main() -> list[dict[str, Any]]:
        async with aio.ManagedIdentityClient(
            identitylib.SystemAssignedManagedIdentity(), token_cache=cache
        ) as client:
            calls = [
                client.acquire_token_for_client(resource=f"https://r{i}.example.com")
                for i in range(40)
            ]
            return list(await asyncio.wait_for(asyncio.gather(*calls), 60))

    results = run(main())
    assert all("access_token" in result for result in results)
