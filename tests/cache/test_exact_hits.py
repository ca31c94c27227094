"""The general cache-hit path: an exact-key lookup by what the call knows (issue #18).

A hit for a key never asked before (another tenant, account or assertion each call) is
one dict lookup in the cache's exact-request index, never a flow and never a scan; what
that index cannot decide alone (no token, several, an expiring one, unusual arguments)
goes the full way, which decides as before. Both APIs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from identitylib import (
    ConfidentialClientApplication,
    PublicClientApplication,
    SerializableTokenCache,
    aio,
)
from identitylib._cache._exact import (
    NO_CLIENT,
    ExactRequestIndex,
    app_request,
    request_key,
    request_keys_of,
    request_prefix,
)
from identitylib._flows import client_credentials, on_behalf_of, silent

from ._builders import tenant_of

ENV = "login.microsoftonline.com"
CLIENT = "cid-0000"
TENANT = "11111111-2222-3333-4444-555555555555"
SCOPE = "api://resource/.default"
USER_SCOPE = "api://resource/read"
OIDC = "email openid profile"


def home(i: int) -> str:
    return f"uid-{i}.{TENANT}"


def assertion_of(i: int) -> str:
    return f"incoming-token-{i}"


def hashed(assertion: str) -> str:
    digest = hashlib.sha256(assertion.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def at(
    secret: str,
    *,
    realm: str = TENANT,
    target: str = SCOPE,
    home_account_id: Any = None,
    lifetime: int = 3600,
    **extra: Any,
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "credential_type": "AccessToken",
        "secret": secret,
        "home_account_id": home_account_id,
        "environment": ENV,
        "client_id": CLIENT,
        "target": target,
        "realm": realm,
        "token_type": "Bearer",
        "cached_at": str(now),
        "expires_on": str(now + lifetime),
        **extra,
    }


def key_of(entry: dict[str, Any]) -> str:
    kind = "atext" if entry.get("ext_cache_key") else "accesstoken"
    home_part = entry.get("home_account_id") or ""
    parts = [home_part, ENV, kind, CLIENT, entry["realm"], entry["target"]]
    if entry.get("ext_cache_key"):
        parts.append(entry["ext_cache_key"])
    return "-".join(parts).lower()


def cache_of(*entries: dict[str, Any]) -> SerializableTokenCache:
    cache = SerializableTokenCache()
    cache.deserialize(json.dumps({"AccessToken": {key_of(e): e for e in entries}}))
    return cache


@pytest.fixture
def no_network() -> Iterator[responses.RequestsMock]:
    """Any request fails the call (none is registered)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def no_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running any of the three flows fails the test: a hit must not need one."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a flow ran for a cache hit")

    for module in (client_credentials, silent, on_behalf_of):
        name = (
            "acquire_token_"
            + {
                client_credentials: "for_client",
                silent: "silent",
                on_behalf_of: "on_behalf_of",
            }[module]
        )
        monkeypatch.setattr(module, name, refuse)


def daemon(tenant: str, cache: SerializableTokenCache) -> ConfidentialClientApplication:
    return ConfidentialClientApplication(
        CLIENT, "secret", authority=f"https://{ENV}/{tenant}", token_cache=cache
    )


# ------------------------------------------------------------------ the index alone


def test_a_token_is_filed_under_its_target_and_its_target_without_oidc_scopes() -> None:
    entry = at("s", target=f"{USER_SCOPE} {OIDC}", home_account_id=home(1))
    keys = request_keys_of(entry)
    assert keys == [
        request_key(ENV, CLIENT, TENANT, home(1), None, [USER_SCOPE, *OIDC.split()]),
        request_key(ENV, CLIENT, TENANT, home(1), None, [USER_SCOPE]),
    ]


@pytest.mark.parametrize(
    "extra",
    [
        {"key_id": "k"},
        {"ext_cache_key": "x"},
        {"kid": "k"},
        {"requestedClaimsHash": "h"},
        {"realm": 7},
        {"target": ""},
    ],
)
def test_bound_or_odd_tokens_are_not_filed(extra: dict[str, Any]) -> None:
    assert request_keys_of({**at("s"), **extra}) == []
    without_home = at("s")
    del without_home["home_account_id"]  # msal-node / MSAL.NET app tokens: the full way
    assert request_keys_of(without_home) == []


@pytest.mark.parametrize("built_from_section", [False, True])
def test_tokens_cached_without_a_client_id_are_filed_under_no_client(
    built_from_section: bool,
) -> None:
    """msal's system-assigned managed identity tokens have ``client_id`` None; a token
    with an empty client id would share their client part, so it is not filed."""
    no_client = {**at("mi"), "client_id": None}
    empty_client = {**at("empty"), "client_id": ""}
    request = request_key(ENV, NO_CLIENT, TENANT, None, None, [SCOPE])
    assert request_keys_of(no_client) == [request]
    assert request_keys_of(empty_client) == []
    if built_from_section:  # grouped by partition, filed on the first lookup
        index = ExactRequestIndex({"k-mi": no_client, "k-empty": empty_client})
    else:
        index = ExactRequestIndex()
        index.add("k-mi", no_client)
        index.add("k-empty", empty_client)
    assert index.key_for(request) == "k-mi"
    index.remove("k-mi", no_client)
    assert index.key_for(request) is None


def test_two_tokens_under_one_request_key_answer_nothing() -> None:
    index = ExactRequestIndex()
    plain, with_oidc = at("a", target=USER_SCOPE), at("b", target=f"{USER_SCOPE} {OIDC}")
    index.add("k1", plain)
    index.add("k2", with_oidc)
    request = request_key(ENV, CLIENT, TENANT, None, None, [USER_SCOPE])
    assert index.key_for(request) is None
    index.remove("k2", with_oidc)
    assert index.key_for(request) == "k1"
    index.remove("k1", plain)
    assert len(index) == 0


def test_an_app_shelf_holds_exactly_the_app_tokens_the_index_files_alone() -> None:
    """An app shelf (an app's app-token requests: scopes part -> token) is kept in step
    with the index: a token on it is the one the index answers for that request; two
    under one request, a removed token, a user's or an on-behalf-of token are not on it;
    a renewed token is filed anew; a shelf once emptied is left behind for good (whoever
    holds it finds nothing there and asks the index again)."""
    index = ExactRequestIndex()
    head = app_request(request_prefix(ENV, CLIENT, TENANT), "")

    def shelved() -> dict[str, str]:
        shelf = index.shelf(head)
        return {} if shelf is None else {scopes: token.key for scopes, token in shelf.items()}

    plain, with_oidc = at("a"), at("b", target=f"{SCOPE} {OIDC}")
    index.add("k1", plain)
    index.add("k-user", at("u", home_account_id=home(1)))
    index.add("k-obo", at("o", home_account_id=home(1), user_assertion_hash=hashed("x")))
    assert shelved() == {SCOPE: "k1"}
    index.add("k2", with_oidc)  # two tokens under the request for SCOPE: on neither
    assert shelved() == {" ".join(sorted([SCOPE, *OIDC.split()])): "k2"}
    index.remove("k2", with_oidc)
    assert shelved() == {SCOPE: "k1"}
    held = index.shelf(head)
    assert held is not None
    renewed = {**plain, "secret": "a2"}
    index.replace("k1", plain, renewed)
    assert held[SCOPE].entry is renewed
    assert index.hit_for(head + SCOPE) is held[SCOPE]
    index.remove("k1", renewed)
    assert held == {}
    assert index.shelf(head) is None
    index.add("k1", plain)
    assert held == {}
    assert shelved() == {SCOPE: "k1"}


# --------------------------------------------------------------------- the apps


def test_each_tenant_first_hit_needs_no_flow(
    no_network: responses.RequestsMock, no_flows: None
) -> None:
    cache = cache_of(*(at(f"t{i}", realm=tenant_of(i)) for i in range(50)))
    apps = [daemon(tenant_of(i), cache) for i in range(50)]
    for i in (7, 3, 49, 0):
        result = apps[i].acquire_token_for_client([SCOPE])
        assert (result["access_token"], result["token_source"]) == (f"t{i}", "cache")
    assert len(no_network.calls) == 0


def test_each_account_first_silent_hit_needs_no_flow(
    no_network: responses.RequestsMock, no_flows: None
) -> None:
    cache = cache_of(
        *(at(f"u{i}", target=f"{USER_SCOPE} {OIDC}", home_account_id=home(i)) for i in range(50))
    )
    app = PublicClientApplication(CLIENT, authority=f"https://{ENV}/{TENANT}", token_cache=cache)
    for i in (11, 2, 40):
        account = {"home_account_id": home(i), "environment": ENV}
        result = app.acquire_token_silent([USER_SCOPE], account)
        assert result is not None
        assert result["access_token"] == f"u{i}"


def test_each_assertion_first_obo_hit_needs_no_flow(
    no_network: responses.RequestsMock, no_flows: None
) -> None:
    cache = cache_of(
        *(
            at(
                f"o{i}",
                home_account_id=home(i),
                user_assertion_hash=hashed(assertion_of(i)),
            )
            for i in range(50)
        )
    )
    app = daemon(TENANT, cache)
    for i in (5, 31):
        result = app.acquire_token_on_behalf_of(assertion_of(i), [SCOPE])
        assert (result["access_token"], result["token_source"]) == (f"o{i}", "cache")
    # An app-token request never meets a user's on-behalf-of token: it goes the full way.
    with pytest.raises(AssertionError, match="a flow ran"):
        app.acquire_token_for_client([SCOPE])


def test_the_asyncio_api_takes_the_same_path(
    no_network: responses.RequestsMock, no_flows: None
) -> None:
    cache = cache_of(
        *(at(f"t{i}", realm=tenant_of(i)) for i in range(20)),
        *(at(f"u{i}", target=USER_SCOPE, home_account_id=home(i)) for i in range(20)),
    )

    async def main() -> list[str]:
        tokens = []
        for i in (4, 17):
            app = aio.ConfidentialClientApplication(
                CLIENT, "secret", authority=f"https://{ENV}/{tenant_of(i)}", token_cache=cache
            )
            tokens.append((await app.acquire_token_for_client([SCOPE]))["access_token"])
        public = aio.PublicClientApplication(
            CLIENT, authority=f"https://{ENV}/{TENANT}", token_cache=cache
        )
        for i in (9, 1):
            account = {"home_account_id": home(i), "environment": ENV}
            result = await public.acquire_token_silent([USER_SCOPE], account)
            assert result is not None
            tokens.append(result["access_token"])
        return tokens

    assert asyncio.run(main()) == ["t4", "t17", "u9", "u1"]


@pytest.mark.parametrize(
    "case",
    ["ambiguous", "expiring", "key_id only", "removed", "scope with a space"],
)
def test_what_the_index_cannot_decide_goes_the_full_way(
    no_network: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    plain = at("plain")
    entries = {
        "ambiguous": [plain, at("oidc", target=f"{SCOPE} {OIDC}")],
        "expiring": [at("expiring", lifetime=100)],
        "key_id only": [at("bound", key_id="kid-1")],
        "removed": [plain],
        "scope with a space": [plain],
    }[case]
    cache = cache_of(*entries)
    app = daemon(TENANT, cache)
    if case == "removed":
        cache.remove_at(plain)
    calls: list[str] = []
    real = client_credentials.acquire_token_for_client

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("flow")
        return real(*args, **kwargs)

    monkeypatch.setattr(client_credentials, "acquire_token_for_client", counted)
    no_network.post(
        f"https://{ENV}/{TENANT}/oauth2/v2.0/token",
        json={"access_token": "fresh", "expires_in": 3600, "token_type": "Bearer"},
    )
    scopes = [f"{SCOPE} other"] if case == "scope with a space" else [SCOPE]
    result = app.acquire_token_for_client(scopes)
    assert calls == ["flow"]
    expected = {
        "ambiguous": {"plain", "oidc"},  # the full way picks (the exact key first: plain)
        "expiring": {"fresh"},
        "key_id only": {"fresh"},
        "removed": {"fresh"},
        "scope with a space": {"fresh"},  # one scope "... other": no token has it
    }[case]
    assert result["access_token"] in expected


def test_a_section_replaced_outside_the_cache_api_is_reindexed(
    no_network: responses.RequestsMock,
) -> None:
    cache = cache_of(at("old"))
    app = daemon(TENANT, cache)
    assert app.acquire_token_for_client([SCOPE])["access_token"] == "old"
    new = at("new")
    cache._cache["AccessToken"] = {key_of(new): new}  # as persistence layers do
    assert daemon(TENANT, cache).acquire_token_for_client([SCOPE])["access_token"] == "new"


class CountingLock:
    """The cache's lock, counting how often it is taken."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self.taken = 0

    def acquire(self, *args: Any) -> Any:
        self.taken += 1
        return self._lock.acquire(*args)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> Any:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def test_an_exact_key_hit_takes_no_lock(no_network: responses.RequestsMock) -> None:
    """A request the index has filed is one unlocked read (threads on hits never queue
    on the cache lock); nothing is remembered for the same call, which the exact-request
    lookup answers as fast. A write is seen by the next hit."""
    cache = cache_of(at("t"))
    app = daemon(TENANT, cache)
    assert app.acquire_token_for_client([SCOPE])["access_token"] == "t"  # builds the index
    lock = cache._lock = CountingLock(cache._lock)  # type: ignore[assignment]
    assert app.acquire_token_for_client([SCOPE])["access_token"] == "t"
    assert lock.taken == 0
    assert app._core.hits.get(("client", SCOPE)) is None
    cache.modify("AccessToken", at("t"), {"secret": "renewed"})  # (under the lock)
    assert app.acquire_token_for_client([SCOPE])["access_token"] == "renewed"


def test_a_hit_only_the_full_way_finds_feeds_the_same_call_memo(
    no_network: responses.RequestsMock,
) -> None:
    """Two tokens under one request key: the index answers nothing, the full way picks
    one (the exact key's), and the memo answers the same call next time."""
    cache = cache_of(at("plain"), at("oidc", target=f"{SCOPE} {OIDC}"))
    app = daemon(TENANT, cache)
    assert app._core.hits.get(("client", SCOPE)) is None
    assert app.acquire_token_for_client([SCOPE])["access_token"] == "plain"
    remembered = app._core.hits.get(("client", SCOPE))
    assert remembered is not None
    assert remembered["access_token"] == "plain"
    cache.remove_at(at("plain"))  # a token removed: the memo answers nothing any more
    assert app._core.hits.get(("client", SCOPE)) is None
