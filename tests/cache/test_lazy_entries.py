"""A big cache loads lazily (issue #18): its sections and entries stay raw JSON until read,
so a process that loads a big cache and serves one hit decodes the few entries it needs.
Proven by counting the entries decoded (never by time); everything a caller reads is a
plain dict, and what serialize() writes is the same JSON. Both APIs."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import pickle
import random
import sys
import threading
import time
from typing import Any

import pytest

from identitylib import ConfidentialClientApplication, SerializableTokenCache, aio
from identitylib._cache import _serialization
from identitylib._cache._exact import request_key
from identitylib._cache._keys import CredentialType
from identitylib._cache._own import exact_request_hit
from identitylib.exceptions import TokenCacheError
from tests._servers import require_module

from ._builders import scope_of, tenant_of

require_module("msgspec")  # the lazy load is msgspec's (a dependency on CPython)

AT = CredentialType.ACCESS_TOKEN
ENV = "login.microsoftonline.com"
CLIENT = "cid-0000"
TENANTS = 100
SCOPES = 5


@pytest.fixture(autouse=True, params=["split at load", "sections whole"])
def representation(request, monkeypatch) -> None:
    """Both ways a big cache is kept: its sections split into raw entries at load (small
    entries), or each section one raw text until read (big entries)."""
    most = 10**9 if request.param == "split at load" else 0
    monkeypatch.setattr(_serialization, "SPLIT_AT_LOAD_MAX_ENTRY_CHARS", most)


#: How the text reaches deserialize() in this test: a str, or the bytes a file holds.
_STATE_FORM = {"bytes": False}


@pytest.fixture(autouse=True, params=["str", "bytes"])
def state_form(request) -> None:
    """Both forms a cache's text is loaded from: a ``str``, or ``bytes`` (read as they are
    when ASCII, as a file's content: no decoding into a ``str`` first)."""
    _STATE_FORM["bytes"] = request.param == "bytes"


def as_state(text: str) -> str | bytes:
    """``text`` in this test's form (see ``state_form``)."""
    return text.encode("utf-8") if _STATE_FORM["bytes"] else text


def key_of(i: int, j: int) -> str:
    return f"-{ENV}-accesstoken-{CLIENT}-{tenant_of(i)}-{scope_of(j)}"


NOW = int(time.time())  # one moment for every state built here (they compare equal)


def big_state() -> dict[str, Any]:
    now = NOW
    tokens = {
        key_of(i, j): {
            "credential_type": "AccessToken",
            "secret": f"t{i}-{j}",
            "home_account_id": None,
            "environment": ENV,
            "client_id": CLIENT,
            "target": scope_of(j),
            "realm": tenant_of(i),
            "token_type": "Bearer",
            "cached_at": str(now),
            "expires_on": str(now + 3600),
        }
        for i in range(TENANTS)
        for j in range(SCOPES)
    }
    metadata = {f"appmetadata-{ENV}-{CLIENT}": {"client_id": CLIENT, "environment": ENV}}
    return {AT: tokens, "AppMetadata": metadata, "Unknown": {"kept": [1, 2.5, None]}}


def loaded(text: str | bytes | None = None) -> SerializableTokenCache:
    state = as_state(json.dumps(big_state())) if text is None else text
    state = as_state(state) if isinstance(state, str) else state
    assert len(state) >= _serialization.FAST_PATH_MIN_CHARS  # the lazy (msgspec) path
    cache = SerializableTokenCache()
    cache.deserialize(state)
    return cache


def decoded(cache: SerializableTokenCache) -> int:
    """Access tokens decoded to dicts so far (the storage, read without decoding)."""
    return sum(type(entry) is dict for entry in dict.values(cache._cache[AT]))


def app_for(cache: SerializableTokenCache, tenant: int) -> ConfidentialClientApplication:
    return ConfidentialClientApplication(
        CLIENT, "secret", authority=f"https://{ENV}/{tenant_of(tenant)}", token_cache=cache
    )


# ------------------------------------------------------------------ one hit decodes little


def test_one_hit_decodes_the_tenants_tokens_only() -> None:
    cache = loaded()
    result = app_for(cache, 7).acquire_token_for_client([scope_of(3)])
    assert (result["access_token"], result["token_source"]) == ("t7-3", "cache")
    assert decoded(cache) == SCOPES  # of TENANTS * SCOPES
    assert cache._store.indices_built() == []


def test_the_asyncio_api_decodes_the_tenants_tokens_only() -> None:
    cache = loaded()

    async def first_token() -> Any:
        app = aio.ConfidentialClientApplication(
            CLIENT, "secret", authority=f"https://{ENV}/{tenant_of(11)}", token_cache=cache
        )
        return await app.acquire_token_for_client([scope_of(0)])

    result = asyncio.run(first_token())
    assert (result["access_token"], result["token_source"]) == ("t11-0", "cache")
    assert decoded(cache) == SCOPES


def test_hits_of_many_tenants_stay_right_past_the_key_text_searches() -> None:
    cache = loaded()
    for i in range(0, TENANTS, 7):  # more tenants than the key text is searched for
        for j in (0, SCOPES - 1):
            result = app_for(cache, i).acquire_token_for_client([scope_of(j)])
            assert (result["access_token"], result["token_source"]) == (f"t{i}-{j}", "cache")


def test_writes_and_removals_before_the_first_lookup_are_seen() -> None:
    cache = loaded()
    section = cache._cache[AT]
    cache.modify(AT, section[key_of(5, 1)])  # removed, never filed
    cache.modify(AT, section[key_of(5, 2)], {"secret": "renewed"})

    def hit(j: int) -> Any:
        return exact_request_hit(
            cache, request_key(ENV, CLIENT, tenant_of(5), None, None, [scope_of(j)])
        )

    assert hit(1) is None
    assert hit(2)[1]["secret"] == "renewed"
    assert hit(3)[1]["secret"] == "t5-3"
    assert cache._store.exact_index is not None
    assert cache._store.exact_index.filed == SCOPES - 1


# ------------------------------------------------------------------ plain dicts to readers


READERS = {
    "eq": lambda section: section if section == big_state()[AT] else None,
    "eq-reflected": lambda section: section if big_state()[AT] == section else None,
    "dict": dict,
    "unpack": lambda section: {**section},
    "update": lambda section: (lambda copied: (copied.update(section), copied)[1])({}),
    "copy": lambda section: section.copy(),
    "or": lambda section: section | {},
    "ror": lambda section: {} | section,
    "deepcopy": copy.deepcopy,
    "pickle": lambda section: pickle.loads(pickle.dumps(section)),
    "json": lambda section: json.loads(json.dumps(section)),
    "items": lambda section: dict(section.items()),
    "values": lambda section: dict(zip(section.keys(), section.values())),
    "getitem": lambda section: {key: section[key] for key in section},
    "get": lambda section: {key: section.get(key) for key in list(section)},
    "setdefault": lambda section: {key: section.setdefault(key, None) for key in list(section)},
    "pop": lambda section: {key: section.pop(key) for key in list(section)},
}


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_every_reader_sees_plain_dicts(read) -> None:
    section = read(loaded()._cache[AT])
    assert section == big_state()[AT]
    assert all(type(entry) is dict for entry in dict.values(section))


def test_the_whole_cache_reads_as_its_json() -> None:
    state = big_state()
    assert loaded()._cache == state
    assert json.loads(json.dumps(loaded()._cache)) == state
    cache = loaded()
    assert "Raw" not in repr(cache._cache)
    _key, entry = cache._cache[AT].popitem()
    assert type(entry) is dict
    assert cache._cache[AT].get("absent", 42) == 42
    assert cache._cache["Unknown"] == {"kept": [1, 2.5, None]}


def test_concurrent_readers_get_the_same_decoded_entry() -> None:
    section = loaded()._cache[AT]
    seen: list[Any] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait(timeout=10)
        seen.append(section[key_of(3, 3)])

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(seen) == 8
    assert all(entry is seen[0] for entry in seen)


def test_an_entry_added_to_the_section_directly_is_noticed() -> None:
    cache = loaded()
    app_for(cache, 2).acquire_token_for_client([scope_of(0)])  # indexes what it needs
    entry = {**cache._cache[AT][key_of(2, 0)], "target": "api://new/.default", "secret": "new"}
    cache._cache[AT]["added-directly"] = entry
    result = app_for(cache, 2).acquire_token_for_client(["api://new/.default"])
    assert (result["access_token"], result["token_source"]) == ("new", "cache")


def test_a_bounded_cache_evicts_from_a_lazily_loaded_one() -> None:
    cache = SerializableTokenCache(max_entries=TENANTS * SCOPES // 2)
    cache.deserialize(as_state(json.dumps(big_state())))
    assert len(cache._cache[AT]) + len(cache._cache["AppMetadata"]) <= TENANTS * SCOPES // 2


# ------------------------------------------------------------------ what serialize() writes


def test_a_cache_never_read_writes_the_text_it_was_loaded_from() -> None:
    text = json.dumps(big_state(), indent=4)  # as msal writes it
    assert loaded(text).serialize() == text
    compact = json.dumps(big_state(), separators=(",", ":"))
    assert loaded(compact).serialize() == compact


def test_a_compact_cache_read_but_unchanged_writes_the_same_text() -> None:
    compact = json.dumps(big_state(), separators=(",", ":"))
    cache = loaded(compact)
    app_for(cache, 9).acquire_token_for_client([scope_of(4)])
    assert cache.serialize() == compact


def test_after_one_write_the_output_is_the_content() -> None:
    state = big_state()
    cache = loaded(json.dumps(state, indent=4))
    entry = state[AT][key_of(4, 4)]
    cache.modify(AT, entry, {"secret": "changed"})
    state[AT][key_of(4, 4)] = {**entry, "secret": "changed"}
    text = cache.serialize()
    assert json.loads(text) == state
    assert text.isascii()
    assert decoded(cache) == 1


def test_non_ascii_text_is_written_escaped() -> None:
    state = big_state()
    state["Account"] = {"a": {"username": "zoë@例え.jp", "home_account_id": "h"}}
    cache = loaded(json.dumps(state, ensure_ascii=False))
    text = cache.serialize()
    assert text.isascii()
    assert json.loads(text) == state


# ------------------------------------------------------------------ malformed content


def test_non_object_entries_are_dropped_with_a_warning_when_read(caplog) -> None:
    state = big_state()
    state[AT]["bogus"] = "a string"
    state[AT]["bogus2"] = [1]
    cache = SerializableTokenCache()
    cache.deserialize(as_state(json.dumps(state)))
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        result = app_for(cache, 1).acquire_token_for_client([scope_of(1)])
    assert result["access_token"] == "t1-1"
    assert "Dropped 2 AccessToken entries" in caplog.text
    assert "bogus" not in cache._cache[AT]
    assert "bogus" not in json.loads(cache.serialize())[AT]


@pytest.mark.parametrize(
    ("broken", "wording"),
    [
        ('"secret": "t50-0",', '"secret": "t50-0",,'),  # deep inside one entry
        ('"secret": "t50-0"', '"secret": "t\\q"'),  # an invalid escape
        ('"secret": "t50-0"', '"secret": tru'),
    ],
)
def test_a_corrupt_entry_fails_deserialize_and_keeps_the_content(broken, wording) -> None:
    cache = loaded()
    app_for(cache, 0).acquire_token_for_client([scope_of(0)])
    text = json.dumps(big_state()).replace(broken, wording, 1)
    with pytest.raises(TokenCacheError, match="not valid JSON"):
        cache.deserialize(as_state(text))
    result = app_for(cache, 0).acquire_token_for_client([scope_of(0)])
    assert (result["access_token"], result["token_source"]) == ("t0-0", "cache")


def test_a_section_that_is_not_an_object_fails_deserialize() -> None:
    text = json.dumps({**big_state(), "RefreshToken": [1, 2]})
    with pytest.raises(TokenCacheError, match="'RefreshToken' must be an object, not an array"):
        SerializableTokenCache().deserialize(as_state(text))


def test_a_number_msgspec_cannot_read_is_read_as_json_does() -> None:
    state = big_state()
    text = json.dumps(state).replace('"secret": "t3-3"', '"secret": "t3-3", "big": 1e400', 1)
    cache = loaded(text)
    assert cache._cache[AT][key_of(3, 3)]["big"] == float("inf")


def test_the_loaded_text_is_let_go_once_its_entries_are_decoded() -> None:
    text = as_state(json.dumps(big_state()))
    before = sys.getrefcount(text)
    cache = loaded(text)
    assert sys.getrefcount(text) > before  # the storage of what is still raw
    assert len(list(cache.search(AT, query={"client_id": CLIENT}))) == TENANTS * SCOPES
    assert sys.getrefcount(text) == before
    assert json.loads(cache.serialize()) == json.loads(text)


def test_a_lazily_loaded_cache_behaves_as_an_eagerly_loaded_one(monkeypatch) -> None:
    text = as_state(json.dumps(big_state()))
    lazy = loaded(text)
    with monkeypatch.context() as patched:
        patched.setattr(_serialization, "_msgspec_json", lambda: None)  # json, eagerly
        eager = SerializableTokenCache()
        eager.deserialize(text)
    assert type(eager._cache[AT]) is dict
    rng = random.Random(18)
    for step in range(300):
        i, j = rng.randrange(TENANTS), rng.randrange(SCOPES)
        query = {"client_id": CLIENT, "environment": ENV, "realm": tenant_of(i)}
        action = rng.randrange(6)
        for cache in (lazy, eager):
            if action == 0:
                hit = exact_request_hit(
                    cache, request_key(ENV, CLIENT, tenant_of(i), None, None, [scope_of(j)])
                )
                outcome: Any = hit and (hit[0], hit[1])
            elif action == 1:
                outcome = sorted(e["secret"] for e in cache.search(AT, [scope_of(j)], query))
            elif action == 2:
                entry = cache._cache[AT].get(key_of(i, j))
                if entry is not None:
                    cache.modify(AT, entry, {"secret": f"step{step}"})
                outcome = entry
            elif action == 3:
                entry = cache._cache[AT].get(key_of(i, j))
                if entry is not None:
                    cache.remove_at(entry)
                outcome = entry
            elif action == 4:
                new = {**big_state()[AT][key_of(i, j)], "target": f"api://new-{step}/.default"}
                cache.modify(AT, new, new)
                outcome = None
            else:
                outcome = sorted(cache._cache[AT])[:5]
            if cache is lazy:
                expected = outcome
            else:
                assert outcome == expected, (step, action)
    assert json.loads(lazy.serialize()) == json.loads(eager.serialize())
    assert type(lazy._cache[AT]) is not dict  # (read lazily throughout)
