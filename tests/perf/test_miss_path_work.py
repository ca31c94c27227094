"""The token-request (miss) path, round 2: work it no longer does, counted (never timed).

See tests/perf/test_miss_path.py for the first round (lookups that cannot match, work
done once).
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import pytest

import identitylib
from identitylib._cache import _index, _own
from identitylib._cache._access import assertion_hash
from identitylib._cache._token_cache import TokenCache
from identitylib._flows._state import AppState
from identitylib.emulator import DEMO_API_ID, Emulator

from ._apps import (
    APIS,
    APP_SCOPES,
    GRAPH,
    call,
    daemon,
    public_client,
    sign_in,
    user_assertion,
    web_api,
)

ENV = "login.microsoftonline.com"
ALIASES = (ENV, "login.windows.net", "login.microsoft.com", "sts.windows.net")
CLIENT = "client-id"
TENANT = "7e4a0000-0000-4000-8000-000000000001"


def _app_event(scope: str, secret: str = "at") -> dict[str, Any]:
    return {
        "client_id": CLIENT,
        "scope": [scope],
        "token_endpoint": f"https://{ENV}/{TENANT}/oauth2/v2.0/token",
        "grant_type": "client_credentials",
        "response": {"access_token": secret, "expires_in": 3600, "token_type": "Bearer"},
    }


# ------------------------------------------------------------------- the request id


def test_a_request_id_is_a_random_version_4_uuid() -> None:
    made = [AppState.new_correlation_id() for _ in range(200)]
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # the canonical form: lower-case hex, 8-4-4-4-12
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


@pytest.mark.parametrize("api", APIS)
def test_a_token_request_makes_no_uuid_object(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """The ``client-request-id`` of a token request is formatted from 16 random bytes:
    no ``uuid.UUID`` object is built for it (the emulator's own ids are not counted)."""
    built: list[str] = []
    real = uuid.uuid4

    def counted() -> uuid.UUID:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("identitylib.") and not caller.startswith("identitylib.emulator"):
            built.append(caller)
        return real()

    monkeypatch.setattr(uuid, "uuid4", counted)
    make = daemon(emulator, api, identitylib.TokenCache())
    result = call(api, make, "acquire_token_for_client", APP_SCOPES)
    assert result["token_source"] == "identity_provider", result
    assert built == []


# ---------------------------------------------------------- the assertion, hashed once


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_hashes_the_assertion_once(
    emulator: Emulator, assertion_hashes: list[str], api: str
) -> None:
    """With the hit path on (a plain in-memory cache), its request key and the flow's
    binding of the tokens share one hash of the assertion."""
    assertion = user_assertion(emulator)
    del assertion_hashes[:]
    cache = identitylib.TokenCache()
    make = web_api(emulator, api, cache)
    result = call(api, make, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert result["token_source"] == "identity_provider", result
    assert len(assertion_hashes) == 1
    (at,) = cache.search("AccessToken", query={"user_assertion_hash": assertion_hash(assertion)})
    assert at["secret"] == result["access_token"]
    del assertion_hashes[:]
    again = call(api, make, "acquire_token_on_behalf_of", f"  {assertion} ", GRAPH)
    assert again["access_token"] == result["access_token"]  # (the hit path, the same hash)
    assert len(assertion_hashes) == 1


# ------------------------------------------------- a miss checked in every environment


@pytest.fixture
def components_made(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The fields of every index component made (``_index.components``), in call order."""
    made: list[tuple[str, ...]] = []
    real = _index.components

    def counted(source: Any, fields: tuple[str, ...], *args: Any) -> Any:
        made.append(fields)
        return real(source, fields, *args)

    monkeypatch.setattr(_index, "components", counted)
    return made


def test_a_miss_in_every_environment_makes_the_client_component_once(
    components_made: list[tuple[str, ...]],
) -> None:
    """The index answers "no token here" for the cloud's four environments without a
    copy of the query and its components per environment."""
    cache = identitylib.TokenCache()
    cache.add(_app_event("api://a/.default"))
    query = {"client_id": CLIENT, "environment": ENV, "realm": TENANT, "home_account_id": None}
    assert _own.may_match_access_token(cache, query, ["api://a/.default"])  # (builds the index)
    del components_made[:]
    assert _own.environments_with_access_tokens(cache, query, ["api://b/.default"], ALIASES) == []
    assert _own.environments_with_access_tokens(cache, query, ["api://a/.default"], ALIASES) == [
        ENV
    ]
    # No component per environment (nor per question: a string client id is its own):
    assert components_made == []
    assert (
        _own.environments_with_access_tokens(
            cache, {**query, "client_id": "other"}, ["api://a/.default"], ALIASES
        )
        == []
    )


def test_the_environments_a_token_is_found_in_are_those_a_search_finds() -> None:
    """The answer per environment is the index's ``may_match`` for that environment (an
    alias's token too, any letter case), in the order asked."""
    cache = identitylib.TokenCache()
    cache.add(_app_event("api://a/.default"))
    cache.add({**_app_event("api://a/.default"), "environment": "STS.windows.net"})
    query = {"client_id": CLIENT, "environment": ENV, "realm": TENANT, "home_account_id": None}
    found = _own.environments_with_access_tokens(cache, query, ["API://A/.default"], ALIASES)
    assert found == [ENV, "sts.windows.net"]
    for environment in ALIASES:
        expected = _own.may_match_access_token(
            cache, {**query, "environment": environment}, ["api://a/.default"]
        )
        assert (environment in found) == expected


# ------------------------------------------------------ rewrites that file as they did


def test_a_rotated_refresh_token_is_not_refiled(components_made: list[tuple[str, ...]]) -> None:
    """A refresh token rewritten under its key with a new secret (every refresh) files as
    it did in each of its section's indices: no index component is made for it."""
    cache = identitylib.TokenCache()
    event = {
        **_app_event("api://a/.default"),
        "response": {
            "access_token": "at",
            "refresh_token": "rt-1",
            "expires_in": 3600,
            "client_info": "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ",  # {"uid":"u","utid":"t"}
        },
    }
    cache.add(event)
    assert "RefreshToken" in cache._store.indices  # (builds every section's index)
    (rt,) = cache.search("RefreshToken", query={"client_id": CLIENT})
    del components_made[:]
    cache.update_rt(rt, "rt-2")
    assert components_made == []
    (rotated,) = cache.search("RefreshToken", query={"client_id": CLIENT})
    assert rotated["secret"] == "rt-2"
    cache.modify("RefreshToken", rotated, {"family_id": "1"})  # a field an index reads
    assert components_made != []
    assert [e["secret"] for e in cache.search("RefreshToken", query={"family_id": "1"})] == ["rt-2"]


def test_a_renewed_access_token_keeps_its_exact_request_filing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An access token renewed under its key (a new secret and times) is not unfiled and
    refiled in the exact-request index; one whose target changed is."""
    from identitylib._cache import _exact

    cache = identitylib.TokenCache()
    cache.add(_app_event("api://a/.default", secret="first"))
    query = {"client_id": CLIENT, "environment": ENV, "realm": TENANT, "home_account_id": None}
    assert _secrets(cache, "api://a/.default", query) == ["first"]
    request = _exact.request_key(ENV, CLIENT, TENANT, None, None, ["api://a/.default"])
    assert _own.exact_request_hit(cache, request) is not None  # (builds and files the index)
    keyed: list[object] = []
    real = _exact.request_parts  # (what makes a token's request keys, requests_of's too)

    def counted(filing: Any) -> Any:
        keyed.append(" ".join(sorted(filing.scopes)))
        return real(filing)

    monkeypatch.setattr(_exact, "request_parts", counted)
    cache.add(_app_event("api://a/.default", secret="renewed"))
    assert keyed == []
    hit = _own.exact_request_hit(cache, request)
    assert hit is not None
    assert hit[1]["secret"] == "renewed"
    (entry,) = cache.search("AccessToken", query=query)
    cache.modify("AccessToken", entry, {"target": "api://b/.default"})
    assert keyed == ["api://b/.default"]  # unfiled (from the requests filed), refiled
    assert _own.exact_request_hit(cache, request) is None
    moved = _exact.request_key(ENV, CLIENT, TENANT, None, None, ["api://b/.default"])
    assert _own.exact_request_hit(cache, moved) is not None


def _secrets(cache: TokenCache, scope: str, query: dict[str, Any]) -> list[str]:
    return [e["secret"] for e in cache.search("AccessToken", target=[scope], query=query)]


# ----------------------------------------------------- an equal app metadata write


@pytest.fixture
def puts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sections the caches' stores write into (``IndexedSections.put``)."""
    from identitylib._cache._store import IndexedSections

    written: list[str] = []
    real = IndexedSections.put

    def counted(self: IndexedSections, credential_type: str, *args: Any) -> None:
        written.append(credential_type)
        real(self, credential_type, *args)

    monkeypatch.setattr(IndexedSections, "put", counted)
    return written


@pytest.mark.parametrize("kind", [identitylib.TokenCache, identitylib.SerializableTokenCache])
def test_an_equal_app_metadata_write_is_left_out(kind: type[TokenCache], puts: list[str]) -> None:
    """Every token response writes the app metadata as it is stored already: identitylib's
    own caches leave that write out (nothing stored, indexed or stamped anew)."""
    cache = kind()
    cache.add(_app_event("api://a/.default"))
    del puts[:]
    cache.add(_app_event("api://b/.default"))
    assert puts == ["AccessToken"]
    (metadata,) = cache._cache["AppMetadata"].values()
    assert metadata == {"client_id": CLIENT, "environment": ENV}
    cache.add({**_app_event("api://c/.default"), "response": {
        "access_token": "at", "expires_in": 3600, "foci": "1"
    }})  # fmt: skip
    assert puts == ["AccessToken", "AccessToken", "AppMetadata"]  # a changed one is written
    (metadata,) = cache._cache["AppMetadata"].values()
    assert metadata["family_id"] == "1"


def test_a_serializable_cache_still_says_it_changed() -> None:
    cache = identitylib.SerializableTokenCache()
    cache.add(_app_event("api://a/.default"))
    cache.serialize()
    assert not cache.has_state_changed
    cache.add(_app_event("api://b/.default"))
    assert cache.has_state_changed


def test_a_subclass_modify_still_sees_every_write() -> None:
    """A cache class with its own ``modify`` is called for every write ``add`` makes, the
    unchanged app metadata included, as msal calls it."""
    seen: list[str] = []

    class Watched(identitylib.SerializableTokenCache):
        def modify(self, credential_type: str, *args: Any, **kwargs: Any) -> None:
            seen.append(credential_type)
            super().modify(credential_type, *args, **kwargs)

    cache = Watched()
    cache.add(_app_event("api://a/.default"))
    cache.add(_app_event("api://b/.default"))
    assert seen == ["AccessToken", "AppMetadata", "AccessToken", "AppMetadata"]


def test_a_bounded_cache_writes_the_app_metadata_each_time(puts: list[str]) -> None:
    """With a bound, every write counts for its recency: the equal app metadata too."""
    cache = identitylib.TokenCache(max_entries=100)
    cache.add(_app_event("api://a/.default"))
    del puts[:]
    cache.add(_app_event("api://b/.default"))
    assert puts == ["AccessToken", "AppMetadata"]


# --------------------------------------------------- the transport, per request


def test_a_request_through_an_app_http_client_makes_no_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An app's ``http_client`` keeps its own bounds: no ``Deadline`` is made per request
    for it, and whether the own session sends is told from the transport's own field,
    without a call (not whether the session's methods were replaced)."""
    from identitylib._protocol._messages import HttpRequest
    from identitylib._transport import _bounds
    from identitylib._transport._sync import SyncTransport
    from tests._fakes import MsalStyleClient

    url = "https://idp.example/token"
    client = MsalStyleClient({}, {url: {"access_token": "at", "expires_in": 60}})
    transport = SyncTransport(client)
    made: list[object] = []
    decided: list[str] = []
    real_after = _bounds.Deadline.after.__func__  # type: ignore[attr-defined]
    real_decide = SyncTransport.replaced

    def counted_after(cls: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(args)
        return real_after(cls, *args, **kwargs)

    def counted_decide(self: SyncTransport, method: str) -> bool:
        decided.append(method)
        return real_decide(self, method)

    monkeypatch.setattr(_bounds.Deadline, "after", classmethod(counted_after))
    monkeypatch.setattr(SyncTransport, "replaced", counted_decide)
    for _ in range(2):
        response = transport.send(HttpRequest("POST", url, data={"grant_type": "x"}))
        assert response.status_code == 200
    assert made == []
    assert decided == []
    client.post.check()


# ------------------------------------------- the on-behalf-of refresh-token lookup


@pytest.fixture
def refresh_token_searches(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The refresh-token searches run on the caches (``TokenCache.search``)."""
    searched: list[object] = []
    real = TokenCache.search

    def counted(self: TokenCache, credential_type: str, *args: Any, **kwargs: Any) -> Any:
        if credential_type == "RefreshToken":
            searched.append(kwargs.get("query"))
        return real(self, credential_type, *args, **kwargs)

    monkeypatch.setattr(TokenCache, "search", counted)
    return searched


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_finds_refresh_tokens_without_a_search(
    emulator: Emulator, refresh_token_searches: list[object], api: str
) -> None:
    """The refresh token bound to an assertion is looked up through the cache's index (no
    search generator); it is still found and redeemed once the access token is gone."""
    assertion = user_assertion(emulator)
    grants: list[object] = []

    class Noted(identitylib.TokenCache):
        def add(self, event: Any, now: Any = None) -> None:
            grants.append(event.get("grant_type"))
            super().add(event, now=now)

    cache = Noted()
    make = web_api(emulator, api, cache)
    first = call(api, make, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert first["token_source"] == "identity_provider", first
    for entry in list(cache.search("AccessToken", query={"client_id": DEMO_API_ID})):
        cache.remove_at(entry)
    del refresh_token_searches[:]
    again = call(api, make, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert again["token_source"] == "identity_provider", again
    assert grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer", "refresh_token"]
    assert refresh_token_searches == []


def test_a_cache_whose_search_is_its_own_or_bounded_is_searched_for_refresh_tokens() -> None:
    from identitylib._cache._own import indexed_refresh_tokens

    query = {"environment": ENV, "client_id": CLIENT, "user_assertion_hash": "h"}

    class Wider(identitylib.TokenCache):
        def search(self, credential_type: str, *args: Any, **kwargs: Any) -> Any:
            yield from super().search(credential_type, *args, **kwargs)

    assert indexed_refresh_tokens(Wider(), query) is None
    assert indexed_refresh_tokens(identitylib.TokenCache(max_entries=10), query) is None
    assert indexed_refresh_tokens(object(), query) is None
    assert indexed_refresh_tokens(identitylib.TokenCache(), query) == []


def test_the_indexed_refresh_tokens_are_those_a_search_yields() -> None:
    from identitylib._cache._own import indexed_refresh_tokens

    cache = identitylib.TokenCache()
    for number, assertion in enumerate(("h1", "h1", "h2")):
        cache.add(
            {
                **_app_event("api://a/.default"),
                "response": {
                    "access_token": f"at{number}",
                    "refresh_token": f"rt{number}",
                    "expires_in": 3600,
                    "client_info": "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ",
                },
                "scope": [f"api://s{number}/.default"],
                "user_assertion_hash": assertion,
            }
        )
    for query in (
        {"environment": ENV, "client_id": CLIENT, "user_assertion_hash": "h1"},
        {"environment": ENV.upper(), "client_id": CLIENT, "user_assertion_hash": "h2"},
        {"environment": ENV, "client_id": "other", "user_assertion_hash": "h1"},
        {"environment": ENV, "client_id": CLIENT, "user_assertion_hash": "h3"},
    ):
        assert indexed_refresh_tokens(cache, query) == list(
            cache.search("RefreshToken", query=query)
        )
    found = indexed_refresh_tokens(
        cache, {"environment": ENV, "client_id": CLIENT, "user_assertion_hash": "h1"}
    )
    assert sorted(entry["secret"] for entry in found or []) == ["rt0", "rt1"]  # (set order)


@pytest.mark.parametrize("api", APIS)
def test_a_silent_refresh_finds_refresh_tokens_without_a_search(
    emulator: Emulator, refresh_token_searches: list[object], api: str
) -> None:
    """The account's refresh tokens (its own, its family's) come from the cache's index:
    no search generator; the refresh token is redeemed once."""
    cache = identitylib.TokenCache()
    make = public_client(emulator, api, cache)
    account = sign_in(emulator, api, cache)
    emulator.reset_requests()
    del refresh_token_searches[:]
    refreshed = call(api, make, "acquire_token_silent", GRAPH, account)
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider", refreshed
    assert refresh_token_searches == []
    ((method, path),) = emulator.requests  # the refresh token, redeemed once
    assert method == "POST"
    assert path.endswith("/token")
