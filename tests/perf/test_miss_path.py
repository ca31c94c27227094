"""The token-request (miss) path does no work it does not need, in both APIs.

Functional tests only: what is looked up, computed or made, counted; never timed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Optional

import pytest

import identitylib
from identitylib._cache import _claims, _own
from identitylib._cache._access import assertion_hash
from identitylib._cache._event import environment_and_realm
from identitylib._cache._token_cache import TokenCache
from identitylib._protocol._messages import HttpRequest
from identitylib._transport import _throttle
from identitylib._transport._sync import SyncTransport
from identitylib.emulator import Emulator

from ._apps import (
    ALICE,
    APIS,
    APP_SCOPES,
    BOB,
    GRAPH,
    call,
    daemon,
    public_client,
    sign_in,
    user_assertion,
    web_api,
)

ENV = "login.microsoftonline.com"
CLIENT = "client-id"
TENANT = "7e4a0000-0000-4000-8000-000000000001"


@pytest.fixture
def access_token_searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The access-token searches the caches run (``TokenCache._collect`` of the section)."""
    searched: list[str] = []
    real = TokenCache._collect

    def counted(self: TokenCache, credential_type: str, *args: Any, **kwargs: Any) -> Any:
        if credential_type == "AccessToken":
            searched.append(credential_type)
        return real(self, credential_type, *args, **kwargs)

    monkeypatch.setattr(TokenCache, "_collect", counted)
    return searched


def _token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


# ------------------------------------------------------------- lookups that cannot match


@pytest.mark.parametrize("api", APIS)
def test_a_client_credentials_miss_searches_no_access_token(
    emulator: Emulator, access_token_searches: list[str], api: str
) -> None:
    """A scope no cached token grants: the index says so, no search runs (msal's form nor
    the other libraries'), and the token is requested once."""
    make = daemon(emulator, api, identitylib.TokenCache())
    emulator.reset_requests()
    first = call(api, make, "acquire_token_for_client", APP_SCOPES)
    assert first["token_source"] == "identity_provider", first
    assert access_token_searches == []
    assert _token_posts(emulator) == 1
    second = call(api, make, "acquire_token_for_client", APP_SCOPES)  # a new app: no memo
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert _token_posts(emulator) == 1


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_for_a_new_assertion_searches_no_access_token(
    emulator: Emulator, access_token_searches: list[str], api: str
) -> None:
    """Alice's OBO token is cached for the same scope: Bob's assertion has no token bound to
    it, so his call searches no access token, and still never gets Alice's."""
    alice, bob = user_assertion(emulator, ALICE), user_assertion(emulator, BOB)
    make = web_api(emulator, api, identitylib.TokenCache())
    emulator.reset_requests()
    for_alice = call(api, make, "acquire_token_on_behalf_of", alice, GRAPH)
    del access_token_searches[:]
    for_bob = call(api, make, "acquire_token_on_behalf_of", bob, GRAPH)
    assert for_bob["token_source"] == "identity_provider", for_bob
    assert for_bob["access_token"] != for_alice["access_token"]
    assert access_token_searches == []
    assert _token_posts(emulator) == 2
    again = call(api, make, "acquire_token_on_behalf_of", alice, GRAPH)
    assert again["access_token"] == for_alice["access_token"]  # hers is still found
    assert _token_posts(emulator) == 2


@pytest.mark.parametrize("api", APIS)
def test_a_silent_refresh_for_a_new_scope_searches_no_access_token(
    emulator: Emulator, access_token_searches: list[str], api: str
) -> None:
    """The account has a token for another scope only: no access-token search in any of
    the cloud's environments, the refresh token is redeemed once."""
    cache = identitylib.TokenCache()
    make = public_client(emulator, api, cache)
    account = sign_in(emulator, api, cache)
    emulator.reset_requests()
    del access_token_searches[:]
    refreshed = call(api, make, "acquire_token_silent", GRAPH, account)
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider"
    assert access_token_searches == []
    assert _token_posts(emulator) == 1
    cached = call(api, make, "acquire_token_silent", GRAPH, account)
    assert cached["access_token"] == refreshed["access_token"]
    assert _token_posts(emulator) == 1


def _app_token(scope: str, secret: str = "at") -> dict[str, Any]:
    return {
        "credential_type": "AccessToken",
        "secret": secret,
        "home_account_id": None,
        "environment": ENV,
        "client_id": CLIENT,
        "target": scope,
        "realm": TENANT,
        "token_type": "Bearer",
        "cached_at": "1",
        "expires_on": "9999999999",
        "extended_expires_on": "9999999999",
    }


def _loaded(*entries: dict[str, Any]) -> identitylib.SerializableTokenCache:
    cache = identitylib.SerializableTokenCache()
    section = {f"-{ENV}-accesstoken-{CLIENT}-{TENANT}-{e['target']}".lower(): e for e in entries}
    cache.deserialize(json.dumps({"AccessToken": section}))
    return cache


APP_QUERY = {"environment": ENV, "client_id": CLIENT, "realm": TENANT, "home_account_id": None}


def test_the_index_knows_which_scopes_a_lookup_could_find() -> None:
    cache = _loaded(_app_token("API://Read/.default Other"), _app_token("api://b/.default"))
    assert _own.may_match_access_token(cache, APP_QUERY, ["api://read/.default"])  # any case
    assert _own.may_match_access_token(cache, APP_QUERY, ["other", "api://read/.default"])
    assert not _own.may_match_access_token(cache, APP_QUERY, ["api://c/.default"])
    assert _own.may_match_access_token(cache, APP_QUERY, ["api://b/.default", "other"])  # (a hint)
    assert not _own.may_match_access_token(cache, {**APP_QUERY, "client_id": "x"}, ["other"])
    assert not _own.may_match_access_token(cache, {**APP_QUERY, "environment": "x"}, ["other"])
    (entry,) = [e for e in cache.search("AccessToken", query=APP_QUERY) if "Other" in e["target"]]
    cache.remove_at(entry)
    assert not _own.may_match_access_token(cache, APP_QUERY, ["other"])  # its count went with it
    assert _own.may_match_access_token(cache, APP_QUERY, ["api://b/.default"])
    cache._cache["AccessToken"]["edited"] = _app_token("api://new/.default")  # a direct edit
    assert _own.may_match_access_token(cache, APP_QUERY, ["api://new/.default"])  # re-indexed


def test_a_cache_whose_search_is_its_own_is_always_searched() -> None:
    """A subclass (or an instance) that answers ``search`` itself may know tokens the index
    does not: it is asked, and its token served."""
    extra = _app_token("api://elsewhere/.default", secret="from-elsewhere")

    class Wider(identitylib.TokenCache):
        def search(self, credential_type: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
            if credential_type == "AccessToken":
                yield extra
            yield from super().search(credential_type, *args, **kwargs)

    wider = Wider()
    assert _own.may_match_access_token(wider, APP_QUERY, ["api://elsewhere/.default"])
    patched = _loaded()
    patched.search = lambda *args, **kwargs: iter([extra])  # type: ignore[method-assign]
    assert _own.may_match_access_token(patched, APP_QUERY, ["api://elsewhere/.default"])
    assert not _own.may_match_access_token(_loaded(), APP_QUERY, ["api://elsewhere/.default"])


# ------------------------------------------------------------------ work done once, or not


def test_the_throttle_computes_no_key_while_it_remembers_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    computed: list[str] = []
    real = _throttle.request_key

    def counted(request: HttpRequest) -> str:
        computed.append(request.url)
        return real(request)

    monkeypatch.setattr(_throttle, "request_key", counted)

    class Server:
        status = 200

        def post(self, url: str, **kwargs: Any) -> Any:
            body = {"access_token": "at"} if self.status == 200 else {"error": "invalid_grant"}
            return type(
                "R", (), {"status_code": self.status, "text": json.dumps(body), "headers": {}}
            )()

        def get(self, url: str, **kwargs: Any) -> Any:
            raise AssertionError("no GET here")

    server = Server()
    transport = SyncTransport(server)
    request = HttpRequest("POST", "https://idp.example/token", data={"grant_type": "password"})
    assert transport.send(request).status_code == 200
    assert computed == []  # nothing remembered: no digest of the request's fields
    server.status = 400
    assert transport.send(request).status_code == 400  # remembered (a public client: 60 s)
    server.status = 200
    assert transport.send(request).status_code == 400  # answered locally
    assert len(computed) == 2  # the record, then the check that replayed it


def test_a_client_info_string_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[object] = []
    real = _claims.decode_base64_json

    def counted(segment: Any) -> dict[str, Any]:
        decoded.append(segment)
        return real(segment)

    monkeypatch.setattr(_claims, "decode_base64_json", counted)
    info = "eyJ1aWQiOiJ1LW9uY2UiLCJ1dGlkIjoidC1vbmNlIn0"  # {"uid":"u-once","utid":"t-once"}
    assert _claims.home_account_id_from(info, {}) == "u-once.t-once"
    assert _claims.home_account_id_from(info, {"sub": "ignored"}) == "u-once.t-once"
    assert decoded == [info]
    assert _claims.home_account_id_from("", {"sub": "s"}) == "s"
    assert _claims.home_account_id_from(None, {}) is None


def test_the_on_behalf_of_flow_hashes_the_assertion_once(
    emulator: Emulator, assertion_hashes: list[str]
) -> None:
    """The tokens' ``user_assertion_hash``, the access hooks' partition key and the hit
    path's request key are the same hash: computed once per call."""
    assertion = user_assertion(emulator, ALICE)
    partitions: list[Optional[str]] = []
    cache = identitylib.TokenCache(
        after_access=lambda access: partitions.append(access.partition_key)
    )
    app = web_api(emulator, "sync", cache)()
    result = app.acquire_token_on_behalf_of(assertion, GRAPH)
    assert result["token_source"] == "identity_provider", result
    assert len(assertion_hashes) == 1
    assert set(partitions) == {assertion_hash(assertion)}
    (at,) = cache.search("AccessToken", query={"user_assertion_hash": assertion_hash(assertion)})
    assert at["secret"] == result["access_token"]


def test_a_token_endpoint_is_split_once() -> None:
    endpoint = f"https://{ENV}/{TENANT}/oauth2/v2.0/token?once=1"
    assert environment_and_realm(endpoint) == (ENV, TENANT)
    from identitylib._cache import _event

    before = _event._split_endpoint.cache_info().hits
    assert environment_and_realm(endpoint) == (ENV, TENANT)
    assert _event._split_endpoint.cache_info().hits == before + 1
    assert environment_and_realm(42) == (None, None)


def test_an_equal_rewrite_files_nothing_again() -> None:
    """Every token response rewrites the app metadata as it was: the indices are left as
    they are (and a changed entry is refiled)."""
    cache = identitylib.TokenCache()
    event = {
        "client_id": CLIENT,
        "scope": ["api://a/.default"],
        "token_endpoint": f"https://{ENV}/{TENANT}/oauth2/v2.0/token",
        "grant_type": "client_credentials",
        "response": {"access_token": "at", "expires_in": 3600, "token_type": "Bearer"},
    }
    cache.add(event)
    index = cache._store.indices["AppMetadata"]
    filed: list[str] = []
    real_add, real_replace = index.add, index.refile_fields  # (the store's refiling)

    def counted(key: str, entry: Any, *filing: Any) -> None:
        filed.append(key)
        real_add(key, entry, *filing)

    def counted_replace(key: str, old: Any, new: Any) -> None:
        filed.append(key)
        real_replace(key, old, new)

    index.add = counted  # type: ignore[method-assign]
    index.refile_fields = counted_replace  # type: ignore[method-assign]
    cache.add({**event, "scope": ["api://b/.default"]})
    assert filed == []
    (metadata,) = cache._cache["AppMetadata"].values()
    cache.modify("AppMetadata", metadata, {"family_id": "1"})
    assert len(filed) == 1
    assert list(cache.search("AppMetadata", query={"family_id": "1"})) == [
        {**metadata, "family_id": "1"}
    ]


def test_a_renewed_token_files_as_it_did_and_a_changed_one_is_refiled() -> None:
    cache = _loaded(_app_token("api://a/.default"))
    assert _secrets(cache, "api://a/.default") == ["at"]  # (builds the index)
    tokens = cache._store.indices["AccessToken"].access_tokens
    assert tokens is not None
    moved: list[str] = []
    real_remove, real_add = tokens.remove, tokens.add
    tokens.remove = lambda key, entry, *filing: (  # type: ignore[method-assign]
        moved.append("remove"),
        real_remove(key, entry, *filing),
    )[1]
    tokens.add = lambda key, entry, *filing: (  # type: ignore[method-assign]
        moved.append("add"),
        real_add(key, entry, *filing),
    )[1]
    (entry,) = cache._cache["AccessToken"].values()
    cache.modify("AccessToken", entry, {"secret": "renewed", "expires_on": "9999999998"})
    assert moved == []
    assert _secrets(cache, "api://a/.default") == ["renewed"]
    (renewed,) = cache._cache["AccessToken"].values()
    cache.modify("AccessToken", renewed, {"target": "api://b/.default"})
    assert moved == ["remove", "add"]
    assert _secrets(cache, "api://a/.default") == []
    assert _secrets(cache, "api://b/.default") == ["renewed"]
    assert not _own.may_match_access_token(cache, APP_QUERY, ["api://a/.default"])


def _secrets(cache: TokenCache, scope: str) -> list[str]:
    found = cache.search("AccessToken", target=[scope], query=APP_QUERY)
    return [entry["secret"] for entry in found]


def test_a_client_info_string_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from identitylib._protocol import _token_response
    from identitylib._protocol._messages import HttpResponse

    checked: list[str] = []
    real = _token_response.decode_client_info

    def counted(client_info: str) -> dict[str, Any]:
        checked.append(client_info)
        return real(client_info)

    monkeypatch.setattr(_token_response, "decode_client_info", counted)

    def parse(client_info: str) -> dict[str, Any]:
        body = {"access_token": "at", "expires_in": 60, "client_info": client_info}
        return _token_response.parse_token_response(HttpResponse(200, json.dumps(body)))

    info = "eyJ1aWQiOiJ1LWNoZWNrIiwidXRpZCI6InQtY2hlY2sifQ"  # {"uid":"u-check","utid":"t-check"}
    assert parse(info)["client_info"] == info
    assert parse(info)["client_info"] == info
    assert checked == [info]
    for _ in range(2):  # a malformed one is refused every time
        assert parse("not*base64")["error"] == "invalid_response"
