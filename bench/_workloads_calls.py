"""Workloads 1 to 5 and 12 of ``bench/run.py``: timed ``acquire_token_*`` and
``get_accounts`` calls, cache hits and token requests, against cache size.

Each workload is a list of ``_harness.Timed`` cases (one per row), made lazily, size by
size, so that only the cache of the size being timed is held; ``run_timed`` times them.
A ``*_calls`` function below makes the per-library, per-round setup of one case.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

from _common import tenant_id
from _fixtures import (
    OBO_SCOPE,
    USER_SCOPE,
    USER_TENANT,
    FakeIdp,
    account_of,
    assertion_of,
    obo_cache,
    user_cache,
)
from _harness import (
    Budget,
    Collected,
    Pace,
    Setup,
    Timed,
    Workload,
    app_tokens,
    cc_scope,
    confidential_app,
    fresh_cache,
    hits,
    log,
    misses,
    public_app,
    run_timed,
)

#: The timed workloads of this module: the table's name, the plot's series, the call's
#: name in a failed check, identitylib's requests per call, a flatness row.
CC_HIT = Workload("1 client credentials hit", "client credentials hit", "cc hit", 0, flat=True)
CC_MISS = Workload("1 client credentials miss", "client credentials miss", "cc miss", 1)
SILENT_SAME = Workload(
    "2 silent hit (same scopes)", "silent hit, same scopes", "silent exact", 0, flat=True
)
SILENT_SUBSET = Workload(
    "2 silent hit (subset scopes)", "silent hit, subset scopes", "silent subset", 0, flat=True
)
REFRESH = Workload("3 silent refresh (RT)", "silent refresh", "silent refresh", 1)
OBO_REPEAT = Workload("4 on-behalf-of repeat", "on-behalf-of repeat", "obo", 0)
GET_ACCOUNTS = Workload("5 get_accounts()", "", "get_accounts")
ROTATING_TENANT = Workload(
    "12 cc hit, rotating tenant", "cc hit, rotating tenant", "rot cc", 0, flat=True
)
ROTATING_ACCOUNT = Workload(
    "12 silent hit, rotating account", "silent hit, rotating account", "rot silent", 0, flat=True
)
ROTATING_ASSERTION = Workload(
    "12 on-behalf-of hit, rotating assertion", "on-behalf-of, rotating assertion", "rot obo", 0
)

# ----------------------------------------------------------------- 1. client credentials


CC_LAYOUTS = (  # (tenants, scopes per tenant)
    (1, 10),
    (1_000, 10),
    (10_000, 1),
    (10_000, 10),  # 100,000 tokens: hit flatness
)


def w1_client_credentials(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    run_timed(libs, b, out, _w1_cases(b))


def _w1_cases(b: Budget) -> Iterator[Timed]:
    for tenants, per in CC_LAYOUTS:
        tenants = min(tenants, b.large) if (tenants, per) != (10_000, 10) else b.huge // 10
        n = tenants * per
        log(f"1. client credentials, {tenants} tenants x {per} scopes")
        make_app = _warm_cc_app(app_tokens(tenants, per), tenant_id(tenants // 2))
        label = f"{tenants:,} tenant x {per} scopes"
        yield CC_HIT.case(label, n, _cc_hit_calls(make_app, per), hits(b), "<= 0.25", 0.25)
        if (tenants, per) == (10_000, 10) and b.huge > b.large * 5:
            continue  # misses at 100,000: see cache_scaling.py
        limit = 0.01 if n >= b.large else None
        target = "<= 0.01" if limit else "(not growing)"
        yield CC_MISS.case(label, n, _cc_miss_calls(make_app), misses(b), target, limit)


def _warm_cc_app(blob: str, tenant: str) -> Callable[[ModuleType], tuple[Any, FakeIdp]]:
    """What makes a library's app in ``tenant`` over a cache loaded from ``blob``, after
    its first call (discovery)."""

    def make(lib: ModuleType) -> tuple[Any, FakeIdp]:
        http = FakeIdp()
        app = confidential_app(lib, tenant, http, fresh_cache(lib, blob))
        app.acquire_token_for_client([cc_scope(0)])  # warm: discovery
        return app, http

    return make


def _cc_hit_calls(make_app: Callable[[ModuleType], tuple[Any, FakeIdp]], per: int) -> Setup:
    """The app's cached scopes in turn."""

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = make_app(lib)
        scopes = [[cc_scope(s)] for s in range(per)]
        return (lambda i: app.acquire_token_for_client(scopes[i % per])), http

    return setup


def _cc_miss_calls(make_app: Callable[[ModuleType], tuple[Any, FakeIdp]]) -> Setup:
    """A scope no token has, each call."""

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = make_app(lib)
        app.acquire_token_for_client(["api://bench-miss-warm/.default"])
        return (lambda i: app.acquire_token_for_client([f"api://miss-{r}-{i}/.default"])), http

    return setup


# ---------------------------------------------------------------- 2./3. public client


def w2_silent_hits(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    run_timed(libs, b, out, _w2_cases(b))


def _w2_cases(b: Budget) -> Iterator[Timed]:
    for n in (1, 100, b.large):
        log(f"2. public-client silent hit, {n} accounts")
        blobs = {False: user_cache(n, oidc_in_target=False), True: user_cache(n)}
        accounts = [account_of(i) for i in sorted({k * n // 16 for k in range(16)})]
        for workload, oidc_in_target, limit in (
            (SILENT_SAME, False, 0.25),
            (SILENT_SUBSET, True, 0.01 if n >= b.large else 0.25),
        ):
            setup = _silent_hit_calls(blobs[oidc_in_target], accounts)
            yield workload.case("accounts", n, setup, hits(b), f"<= {limit}", limit)


def _silent_hit_calls(blob: str, accounts: Sequence[dict[str, Any]]) -> Setup:
    """The accounts in turn, for the scope their tokens have."""
    scopes = [USER_SCOPE]

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = public_app(lib, blob)
        app.acquire_token_silent(scopes, accounts[0])  # warm: discovery
        k = len(accounts)
        return (lambda i: app.acquire_token_silent(scopes, accounts[i % k])), http

    return setup


def w3_silent_refresh(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    run_timed(libs, b, out, _w3_cases(b))


def _w3_cases(b: Budget) -> Iterator[Timed]:
    for n in (100, b.large):
        log(f"3. silent refresh, {n} accounts")
        limit = 0.01 if n >= b.large else None
        target = "<= 0.01" if limit else ""
        yield REFRESH.case(
            "accounts", n, _refresh_calls(user_cache(n), n), misses(b), target, limit
        )


def _refresh_calls(blob: str, n: int) -> Setup:
    """A scope no token has yet, for a different account each call: AT miss -> RT."""

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = public_app(lib, blob)
        app.acquire_token_silent(["api://bench-refresh-warm/read"], account_of(0))  # discovery

        def call(i: int) -> object:
            return app.acquire_token_silent(
                [f"api://bench-refresh-{r}-{i}/read"], account_of((i * 7919) % n)
            )

        return call, http

    return setup


# ------------------------------------------------------------------------------ 4. OBO


def w4_obo(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    run_timed(libs, b, out, _w4_cases(b))


def _w4_cases(b: Budget) -> Iterator[Timed]:
    for n in (100, b.large):
        log(f"4. on-behalf-of repeat, {n} users")
        setup = _obo_repeat_calls(obo_cache(n), sorted({k * n // 16 for k in range(16)}))
        pace = Pace(b.miss_calls * 4, b.miss_s, 20, None)
        yield OBO_REPEAT.case("users", n, setup, pace, "<= 0.1, 0 requests", 0.1)


def _obo_repeat_calls(blob: str, picks: Sequence[int]) -> Setup:
    """The assertions of ``picks`` in turn, each seen once before the timed calls."""

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        http = FakeIdp()
        app = confidential_app(lib, USER_TENANT, http, fresh_cache(lib, blob))
        for i in picks:  # the first call of each user (msal requests; we hit the blob)
            app.acquire_token_on_behalf_of(assertion_of(i), [OBO_SCOPE])
        k = len(picks)
        return (
            lambda i: app.acquire_token_on_behalf_of(assertion_of(picks[i % k]), [OBO_SCOPE])
        ), http

    return setup


# ------------------------------------------------------------------------ 5. accounts


def w5_get_accounts(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    n = b.large
    log(f"5. get_accounts, {n} accounts")
    blob = user_cache(n)

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = public_app(lib, blob)
        app.get_accounts()

        def call(i: int) -> object:
            accounts = app.get_accounts()
            if len(accounts) != n:
                raise RuntimeError(f"{name}: {len(accounts)} accounts")
            return {"access_token": "-"}

        return call, http

    pace = Pace(40, b.miss_s, 2, None, min_calls=3)
    run_timed(libs, b, out, [GET_ACCOUNTS.case("accounts", n, setup, pace, "<= 0.2", 0.2)])


# ------------------------------------------------------------- 12. rotating-key hits


def memo_off(lib: ModuleType, app: Any) -> Any:
    """identitylib's same-call memo stops remembering, so every hit takes the general
    (exact-key) path: the rows below measure that path, not the memo."""
    if lib.__name__ == "identitylib":
        app._core.hits.memo = _Forgetful()  # an AttributeError here: the bench is stale
    return app


class _Forgetful(dict):  # type: ignore[type-arg]
    """A memo that keeps nothing."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def rotating_picks(n: int, r: int, calls: int) -> list[int]:
    """A random key (0 .. n-1) per call, the same for both libraries in one round."""
    rnd = random.Random(1000 + r)
    return [rnd.randrange(n) for _ in range(max(calls, 1))]


ROTATING_TENANTS = (  # (tenants, scopes per tenant)
    (10, 1),
    (1_000, 1),
    (10_000, 1),
    (10_000, 10),  # 100,000 tokens
)


def w12_rotating_hits(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """Cache hits with another key each call: a multi-tenant daemon (one app per tenant,
    one shared cache), a web app's signed-in users, a web API's callers (OBO). Each has
    its rows, then its flatness row."""
    run_timed(libs, b, out, _w12_tenant_cases(b))
    run_timed(libs, b, out, _w12_account_cases(b))
    run_timed(libs, b, out, _w12_assertion_cases(b))


def _w12_tenant_cases(b: Budget) -> Iterator[Timed]:
    for tenants, per in ROTATING_TENANTS:
        tenants = min(tenants, b.large)
        log(f"12. rotating tenant, {tenants} tenants x {per} scopes")
        label = f"{tenants:,} tenants x {per} scopes"
        setup = _rotating_tenant_calls(app_tokens(tenants, per), tenants, per, b.hit_calls)
        yield ROTATING_TENANT.case(label, tenants * per, setup, hits(b), "<= 0.25", 0.25)


def _rotating_tenant_calls(blob: str, tenants: int, per: int, calls: int) -> Setup:
    """One app per tenant over one shared cache: a random app each call."""

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        http, cache = FakeIdp(), fresh_cache(lib, blob)
        apps = [
            memo_off(lib, confidential_app(lib, tenant_id(t), http, cache)) for t in range(tenants)
        ]
        for app in apps:  # each app's first call (msal's discovery ran in its constructor)
            app.acquire_token_for_client([cc_scope(0)])
        picks = rotating_picks(tenants, r, calls)
        scopes = [[cc_scope(s)] for s in range(per)]
        k = len(picks)
        return (lambda i: apps[picks[i % k]].acquire_token_for_client(scopes[(i * 7) % per])), http

    return setup


def _w12_account_cases(b: Budget) -> Iterator[Timed]:
    for n in (10, 1_000, b.large):
        log(f"12. rotating account, {n} accounts")
        blob = user_cache(n, oidc_in_target=False)
        setup = _rotating_account_calls(blob, n, b.hit_calls)
        yield ROTATING_ACCOUNT.case("accounts", n, setup, hits(b), "<= 0.25", 0.25)


def _rotating_account_calls(blob: str, n: int, calls: int) -> Setup:
    """A random account each call."""

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = public_app(lib, blob)
        memo_off(lib, app)
        accounts = [account_of(i) for i in range(n)]
        app.acquire_token_silent([USER_SCOPE], accounts[0])  # warm
        picks = rotating_picks(n, r, calls)
        k = len(picks)
        return (lambda i: app.acquire_token_silent([USER_SCOPE], accounts[picks[i % k]])), http

    return setup


def _w12_assertion_cases(b: Budget) -> Iterator[Timed]:
    for n in (10, b.large):
        log(f"12. rotating assertion, {n} users")
        setup = _rotating_assertion_calls(obo_cache(n), n, b.hit_calls)
        pace = hits(b, source=None)
        yield ROTATING_ASSERTION.case("users", n, setup, pace, "<= 0.25, 0 requests", 0.25)


def _rotating_assertion_calls(blob: str, n: int, calls: int) -> Setup:
    """A random user's assertion each call."""

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        http = FakeIdp()
        app = memo_off(lib, confidential_app(lib, USER_TENANT, http, fresh_cache(lib, blob)))
        app.acquire_token_on_behalf_of(assertion_of(0), [OBO_SCOPE])  # warm
        picks = rotating_picks(n, r, calls)
        k = len(picks)
        return (
            lambda i: app.acquire_token_on_behalf_of(assertion_of(picks[i % k]), [OBO_SCOPE])
        ), http

    return setup
