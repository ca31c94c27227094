"""Workload 15 of ``bench/run.py``: the library's own time per token request.

Each call's time less the fake server's (``Pace.library_only``): a client-credentials
miss, a silent refresh through the refresh token and an on-behalf-of miss (an assertion
never seen), with 10 and ``b.large`` tokens cached. The access token a call got is
removed after it, outside the timed region (``_Tidied``), so the cache keeps its size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from _common import CLIENT_ID, tenant_id
from _fixtures import (
    ENV,
    OBO_SCOPE,
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
    Setup,
    Timed,
    Workload,
    app_tokens,
    confidential_app,
    fresh_cache,
    log,
    misses,
    public_app,
    run_timed,
)


def w15_library_time(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """Each workload's rows, then its flatness row."""
    for kind, label, make in (
        ("cc miss", "app tokens", _client_credentials_calls),
        ("silent refresh (RT)", "accounts (an AT and an RT each)", _refresh_calls),
        ("on-behalf-of miss", "users' OBO tokens", _obo_calls),
    ):
        run_timed(libs, b, out, _sizes(b, kind, label, make))


def _sizes(b: Budget, kind: str, label: str, make: Callable[[int], Setup]) -> Iterator[Timed]:
    name = f"15 library time, {kind}"
    workload = Workload(name, kind, name, requests=1, flat=True)
    pace = dataclasses.replace(misses(b), library_only=True)
    for n in (10, b.large):
        log(f"15. library time, {kind}, {n:,} cached")
        yield workload.case(label, n, make(n), pace, "<= 0.5", 0.5)


def _client_credentials_calls(n: int) -> Setup:
    """``n`` app tokens (10 scopes per tenant); a new scope of the app's tenant each call."""
    tenants = max(1, n // 10)
    blob = app_tokens(tenants, 10)
    app_tenant = tenant_id(tenants // 2)

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        http = FakeIdp()
        app = confidential_app(lib, app_tenant, http, fresh_cache(lib, blob))
        app.acquire_token_for_client(["api://bench-library-warm/.default"])  # discovery
        query: dict[str, Any] = {"client_id": CLIENT_ID, "environment": ENV, "realm": app_tenant}
        query["home_account_id"] = None

        def scope(i: int) -> str:
            return f"api://lib-{r}-{i}/.default"

        return _Tidied(
            lambda i: app.acquire_token_for_client([scope(i)]),
            app.token_cache,
            lambda i: (scope(i), query),
        ), http

    return setup


class _Tidied:
    """A call whose ``tidy`` removes the access token it got (found through the request's
    own query), outside the timed region, so the cache keeps its size through the workload:
    msal's misses scan every token, and a cache growing by one token per call would time
    msal at a larger size than the row says."""

    def __init__(
        self, call: Callable[[int], object], cache: Any, lookup: Callable[[int], tuple[str, Any]]
    ) -> None:
        self._call = call
        self._cache = cache
        self._lookup = lookup  # call number -> (scope, query) of its token
        self._last = 0

    def __call__(self, i: int) -> object:
        self._last = i
        return self._call(i)

    def tidy(self, result: object) -> None:
        secret = result.get("access_token") if isinstance(result, dict) else None
        scope, query = self._lookup(self._last)
        for entry in list(self._cache.search("AccessToken", target=[scope], query=query)):
            if entry.get("secret") == secret:
                self._cache.remove_at(entry)


def _refresh_calls(n: int) -> Setup:
    """``n`` accounts; a scope no token has, for another account each call."""
    blob = user_cache(n)

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = public_app(lib, blob)
        app.acquire_token_silent(["api://bench-library-warm/read"], account_of(0))  # discovery
        accounts = [account_of(i) for i in range(n)]

        def call(i: int) -> object:
            return app.acquire_token_silent(
                [f"api://lib-refresh-{r}-{i}/read"], accounts[(i * 7919) % n]
            )

        def lookup(i: int) -> tuple[str, Any]:
            home = accounts[(i * 7919) % n]["home_account_id"]
            query = {"client_id": CLIENT_ID, "environment": ENV, "realm": USER_TENANT}
            return f"api://lib-refresh-{r}-{i}/read", {**query, "home_account_id": home}

        return _Tidied(call, app.token_cache, lookup), http

    return setup


def _obo_calls(n: int) -> Setup:
    """``n`` users' on-behalf-of tokens; an assertion never seen each call (no cached access
    or refresh token: the assertion is exchanged)."""
    blob = obo_cache(n)

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        http = FakeIdp()
        app = confidential_app(lib, USER_TENANT, http, fresh_cache(lib, blob))
        app.acquire_token_on_behalf_of(assertion_of(0), [OBO_SCOPE])  # discovery
        return (
            lambda i: app.acquire_token_on_behalf_of(f"new-assertion-{r}-{i:08d}", [OBO_SCOPE])
        ), http

    return setup
