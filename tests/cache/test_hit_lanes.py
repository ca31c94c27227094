"""Cache lanes (issue #18): a plain rotating-key hit is answered before any plan is made,
by the same lookup in both APIs, and every shortcut on that way lets through only what it
may: a token that is expiring, due for refresh, removed, replaced or edited, a changed or
reassigned cache, a replaced clock, a hooked cache, extra options all go the full way.

Without OpenTelemetry the lane's hits are still counted in ``get_token_totals()``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from identitylib import (
    ConfidentialClientApplication,
    PublicClientApplication,
    SerializableTokenCache,
    aio,
)
from identitylib._application._base import Runner
from identitylib._cache._exact import scope_text
from identitylib._flows._state import AppState
from identitylib._telemetry._totals import Totals
from identitylib.aio._application import AsyncRunner

from ._builders import client_credentials_event
from .test_exact_hits import (
    ENV,
    OIDC,
    SCOPE,
    TENANT,
    USER_SCOPE,
    assertion_of,
    at,
    cache_of,
    hashed,
    home,
    key_of,
    tenant_of,
)

TOKEN_URL = f"https://{ENV}/{TENANT}/oauth2/v2.0/token"


@pytest.fixture
def no_network() -> Iterator[responses.RequestsMock]:
    """Any request fails the call (none is registered)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The plans the apps of both APIs run (a lane's hit runs none)."""
    ran: list[str] = []
    sync_perform, async_perform = Runner._perform, AsyncRunner._perform

    def counted(self: Any, plan: Any) -> Any:
        ran.append("sync")
        return sync_perform(self, plan)

    async def counted_async(self: Any, plan: Any, same_call: Any = None) -> Any:
        ran.append("aio")
        return await async_perform(self, plan, same_call)

    monkeypatch.setattr(Runner, "_perform", counted)
    monkeypatch.setattr(AsyncRunner, "_perform", counted_async)
    return ran


def rotating_cache() -> SerializableTokenCache:
    return cache_of(
        *(at(f"t{i}", realm=tenant_of(i)) for i in range(20)),
        *(at(f"u{i}", target=f"{USER_SCOPE} {OIDC}", home_account_id=home(i)) for i in range(20)),
        *(
            at(f"o{i}", home_account_id=home(i), user_assertion_hash=hashed(assertion_of(i)))
            for i in range(20)
        ),
    )


def authority(tenant: str = TENANT) -> str:
    return f"https://{ENV}/{tenant}"


def account(i: int) -> dict[str, Any]:
    return {"home_account_id": home(i), "environment": ENV}


def without_lifetime(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "expires_in"}


# ---------------------------------------------------------------------- both APIs


def test_both_apis_answer_rotating_hits_without_a_plan_or_a_request(
    no_network: responses.RequestsMock, plans: list[str]
) -> None:
    cache = rotating_cache()
    picks = (7, 3, 19, 0)

    def blocking() -> list[dict[str, Any]]:
        results = []
        public = PublicClientApplication("cid-0000", authority=authority(), token_cache=cache)
        api = ConfidentialClientApplication(
            "cid-0000", "secret", authority=authority(), token_cache=cache
        )
        for i in picks:
            daemon = ConfidentialClientApplication(
                "cid-0000", "secret", authority=authority(tenant_of(i)), token_cache=cache
            )
            results.append(daemon.acquire_token_for_client([SCOPE]))
            results.append(public.acquire_token_silent([USER_SCOPE], account(i)))
            results.append(public.acquire_token_silent_with_error([USER_SCOPE], account(i)))
            results.append(api.acquire_token_on_behalf_of(assertion_of(i), [SCOPE]))
        return results

    async def asynchronous() -> list[dict[str, Any]]:
        results = []
        public = aio.PublicClientApplication("cid-0000", authority=authority(), token_cache=cache)
        api = aio.ConfidentialClientApplication(
            "cid-0000", "secret", authority=authority(), token_cache=cache
        )
        for i in picks:
            daemon = aio.ConfidentialClientApplication(
                "cid-0000", "secret", authority=authority(tenant_of(i)), token_cache=cache
            )
            results.append(await daemon.acquire_token_for_client([SCOPE]))
            results.append(await public.acquire_token_silent([USER_SCOPE], account(i)))
            results.append(await public.acquire_token_silent_with_error([USER_SCOPE], account(i)))
            results.append(await api.acquire_token_on_behalf_of(assertion_of(i), [SCOPE]))
        return results

    sync_results, async_results = blocking(), asyncio.run(asynchronous())
    assert [r["access_token"] for r in sync_results] == [
        token for i in picks for token in (f"t{i}", f"u{i}", f"u{i}", f"o{i}")
    ]
    assert [without_lifetime(r) for r in sync_results] == [
        without_lifetime(r) for r in async_results
    ]
    for sync_result, async_result in zip(sync_results, async_results):
        assert sync_result["token_source"] == "cache"
        assert set(sync_result) == {"access_token", "token_type", "expires_in", "token_source"}
        # The asyncio calls ran after the blocking ones: the same token has as long or
        # less left (how much less depends on the machine's speed, not on the library).
        assert 0 < async_result["expires_in"] <= sync_result["expires_in"]
    assert plans == []
    assert len(no_network.calls) == 0


@pytest.mark.parametrize("api", ["sync", "aio"])
def test_lane_hits_are_counted_in_the_totals(no_network: responses.RequestsMock, api: str) -> None:
    cache = rotating_cache()
    module: Any = aio if api == "aio" else __import__("identitylib")
    app = module.ConfidentialClientApplication(
        "cid-0000", "secret", authority=authority(tenant_of(4)), token_cache=cache
    )

    async def twice() -> None:
        for _ in range(2):
            assert (await app.acquire_token_for_client([SCOPE]))["access_token"] == "t4"

    if api == "aio":
        asyncio.run(twice())
    else:
        for _ in range(2):
            assert app.acquire_token_for_client([SCOPE])["access_token"] == "t4"
    totals = app.get_token_totals()
    assert (totals.tokens_from_cache, totals.tokens_from_identity_provider) == (2, 0)
    assert totals.errors == 0
    assert totals.total_ms > 0
    assert totals.http_ms == 0


def test_an_override_calling_super_is_one_call(no_network: responses.RequestsMock) -> None:
    """A subclass's override has no lane: it runs, and its super() call is part of it."""
    seen: list[list[str]] = []

    class Mine(ConfidentialClientApplication):
        def acquire_token_for_client(self, scopes: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(scopes)
            return super().acquire_token_for_client(scopes, *args, **kwargs)

    app = Mine(
        "cid-0000", "secret", authority=authority(tenant_of(2)), token_cache=rotating_cache()
    )
    assert app.acquire_token_for_client([SCOPE])["access_token"] == "t2"
    assert seen == [[SCOPE]]
    assert app.get_token_totals().tokens_from_cache == 1


def test_totals_count_hits_of_the_owner_and_of_other_threads() -> None:
    totals = Totals()
    totals.add_cached(1_000_000)  # 1 ms, by the thread that made the totals
    workers = [
        threading.Thread(target=lambda: [totals.add_cached(2_000_000) for _ in range(10)])
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    totals.add({"access_token": "x", "token_source": "identity_provider"}, False, 0.5)
    snapshot = totals.snapshot()
    assert (snapshot.tokens_from_cache, snapshot.tokens_from_identity_provider) == (41, 1)
    assert snapshot.total_ms == pytest.approx(1 + 80 + 500)


# ------------------------------------------------------- what goes the full way


@pytest.mark.parametrize(
    "options",
    [
        {"claims_challenge": '{"access_token": {"nbf": {"essential": true}}}'},
        {"fmi_path": "SomeFmiPath/x"},
        {"forwarded_client_claims": '{"xms_az_claim": "x"}'},
        {"data": {"extra": "1"}},
    ],
)
def test_calls_with_options_go_the_full_way(
    no_network: responses.RequestsMock, plans: list[str], options: dict[str, Any]
) -> None:
    no_network.post(
        TOKEN_URL, json={"access_token": "fresh", "expires_in": 3600, "token_type": "Bearer"}
    )
    app = ConfidentialClientApplication(
        "cid-0000", "secret", authority=authority(), token_cache=cache_of(at("cached"))
    )
    app.acquire_token_for_client([SCOPE], **options)
    assert plans == ["sync"]


def client_app(api: str, cache: Any) -> Any:
    """An app of either API over ``cache`` whose requests ``responses`` answers (the
    asyncio one through a blocking session, in a worker thread)."""
    if api == "aio":
        return aio.ConfidentialClientApplication(
            "cid-0000",
            "secret",
            authority=authority(),
            token_cache=cache,
            background_refresh=False,
            http_client=requests.Session(),
        )
    return ConfidentialClientApplication(
        "cid-0000", "secret", authority=authority(), token_cache=cache, background_refresh=False
    )


def app_token(api: str, app: Any) -> str:
    if api == "aio":

        async def acquire() -> Any:
            return await app.acquire_token_for_client([SCOPE])

        token: str = asyncio.run(acquire())["access_token"]
        return token
    return str(app.acquire_token_for_client([SCOPE])["access_token"])


@pytest.mark.parametrize("api", ["sync", "aio"])
@pytest.mark.parametrize(
    "change",
    [
        "expiring",
        "refresh due",
        "removed",
        "replaced",
        "edited in place",
        "cache reassigned",
        "section replaced",
    ],
)
def test_a_changed_token_or_cache_is_never_served_by_the_lane(
    no_network: responses.RequestsMock, change: str, api: str
) -> None:
    no_network.post(
        TOKEN_URL, json={"access_token": "fresh", "expires_in": 3600, "token_type": "Bearer"}
    )
    token = at("cached")
    cache = cache_of(token)
    app = client_app(api, cache)
    assert [app_token(api, app) for _ in range(3)] == ["cached"] * 3
    assert app._hits._app_shelf  # (the app reads its app shelf from now on)
    stored = cache._cache["AccessToken"][key_of(token)]
    expected = "fresh"
    if change == "expiring":
        stored["expires_on"] = str(int(time.time()) + 100)
    elif change == "refresh due":
        stored["refresh_on"] = str(int(time.time()) - 10)
    elif change == "removed":
        cache.remove_at(stored)
    elif change == "replaced":
        cache.modify("AccessToken", stored, {"secret": "renewed"})
        expected = "renewed"
    elif change == "edited in place":
        stored["secret"] = "edited"
        expected = "edited"
    elif change == "section replaced":  # as persistence layers do: the index is rebuilt
        other = at("other section")
        cache._cache["AccessToken"] = {key_of(other): other}
        expected = "other section"
    else:
        app.token_cache = cache_of(at("other cache"))
        expected = "other cache"
    assert app_token(api, app) == expected
    assert len(no_network.calls) == (1 if expected == "fresh" else 0)


@pytest.mark.parametrize("api", ["sync", "aio"])
@pytest.mark.parametrize("how", ["the state's", "the class's"])
def test_a_replaced_clock_is_read_by_the_lane(
    no_network: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, how: str, api: str
) -> None:
    no_network.post(
        TOKEN_URL, json={"access_token": "fresh", "expires_in": 3600, "token_type": "Bearer"}
    )
    app = client_app(api, cache_of(at("cached")))
    assert app_token(api, app) == "cached"
    later = time.time() + 7200  # past the cached token's expiry
    if how == "the state's":
        app._core.state.now = lambda: later
    else:
        monkeypatch.setattr(AppState, "now", staticmethod(lambda: later))
    assert app_token(api, app) == "fresh"


@pytest.mark.parametrize("api", ["sync", "aio"])
def test_a_hooked_cache_runs_its_hooks_on_every_hit(
    no_network: responses.RequestsMock, api: str
) -> None:
    """A cache with access hooks is never read by the lane: its hooks must reload it."""
    accesses: list[str] = []
    cache = SerializableTokenCache(before_access=lambda access: accesses.append("before"))
    cache.deserialize(cache_of(at("cached")).serialize())
    module: Any = aio if api == "aio" else __import__("identitylib")
    app = module.ConfidentialClientApplication(
        "cid-0000", "secret", authority=authority(), token_cache=cache
    )

    async def twice() -> list[str]:
        return [(await app.acquire_token_for_client([SCOPE]))["access_token"] for _ in range(2)]

    tokens = (
        asyncio.run(twice())
        if api == "aio"
        else [app.acquire_token_for_client([SCOPE])["access_token"] for _ in range(2)]
    )
    assert tokens == ["cached", "cached"]
    assert accesses.count("before") >= 2


def test_a_domain_tenant_is_looked_up_under_the_realm_discovery_found(
    no_network: responses.RequestsMock,
) -> None:
    """Before discovery the app's realm is unknown (the lane answers nothing); after it,
    the lane looks up the tenant's GUID."""
    domain = "contoso.example"
    no_network.get(
        f"https://{ENV}/{domain}/v2.0/.well-known/openid-configuration",
        json={
            "issuer": f"https://{ENV}/{TENANT}/v2.0",
            "authorization_endpoint": f"https://{ENV}/{TENANT}/oauth2/v2.0/authorize",
            "token_endpoint": TOKEN_URL,
        },
    )
    no_network.get(
        f"https://{ENV}/common/discovery/instance",
        json={"tenant_discovery_endpoint": "x", "metadata": []},
    )
    app = ConfidentialClientApplication(
        "cid-0000", "secret", authority=authority(domain), token_cache=cache_of(at("cached"))
    )
    assert app._hits.app_token([SCOPE]) is None  # the realm is not known yet
    assert app.acquire_token_for_client([SCOPE])["access_token"] == "cached"
    hit = app._hits.app_token([SCOPE])
    assert hit is not None
    assert hit["access_token"] == "cached"


def test_scope_texts_keep_the_user_flows_refusal() -> None:
    scopes = ["openid", "api://x/read"]
    assert scope_text(scopes, user_flow=False) == "api://x/read openid"
    assert scope_text(scopes, user_flow=True) is None  # the same scopes, remembered
    assert scope_text(["API://X/Read"], user_flow=True) == "api://x/read"
    assert scope_text(["a b"], user_flow=False) is None
    assert scope_text([["unhashable"]], user_flow=False) is None
    assert scope_text([], user_flow=False) is None


@pytest.mark.parametrize("api", ["sync", "aio"])
def test_an_equal_token_written_again_is_the_one_a_hit_reads(
    no_network: responses.RequestsMock, api: str
) -> None:
    """The same token response added twice stores an equal entry as another dict; an
    edit in place of the dict stored is what the next hit serves (the index files the
    stored dict, not the one it replaced)."""
    cache = SerializableTokenCache()
    event = client_credentials_event(
        [SCOPE], client_id="cid-0000", access_token="first", tenant=TENANT
    )
    written_at = time.time()
    cache.add(event, now=written_at)
    app = client_app(api, cache)
    assert [app_token(api, app) for _ in range(3)] == ["first"] * 3
    cache.add(event, now=written_at)
    (stored,) = cache._cache["AccessToken"].values()
    stored["secret"] = "edited"
    assert app_token(api, app) == "edited"
    assert len(no_network.calls) == 0
