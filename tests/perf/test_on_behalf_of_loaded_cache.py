"""An on-behalf-of miss in a big cache loaded lazily (``_cache/_raw.py``: sections and
entries decoded on first read) runs the calls it runs in a small cache loaded whole,
counted (never timed), in the blocking and the asyncio API.

Each call brings an assertion never seen, of a user whose token is cached: the new token
replaces the one stored under its key. Once the first calls have read what they need:

- the cache lane settles the miss without the cache lock: the exact-request index has
  searched the loaded keys for the app's partition, so nothing more can be filed under
  the request until a write;
- the write reads and stores its sections and the replaced entries as a plain dict's
  (no lazy decoding: they were decoded by their first read);
- the app metadata every response repeats is found unchanged, as in a small cache.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import identitylib
from identitylib._cache._exact import request_key
from identitylib._cache._raw import RawBacked
from identitylib._cache._serialization import FAST_PATH_MIN_CHARS
from identitylib.emulator import Emulator

from ._apps import APIS, GRAPH, call_on, user_assertion, web_api
from ._counting import python_calls


def _blob(emulator: Emulator, others: int) -> str:
    """A cache holding Alice's on-behalf-of tokens (the emulator's) and ``others`` other
    users' access tokens of the same app and scopes, each bound to its own assertion."""
    cache = identitylib.SerializableTokenCache()
    first = call_on("sync", web_api(emulator, "sync", cache)(), "acquire_token_on_behalf_of",
                    user_assertion(emulator), GRAPH)  # fmt: skip
    assert first["token_source"] == "identity_provider", first
    sections = json.loads(cache.serialize())
    ((alice_key, alice),) = sections["AccessToken"].items()
    for i in range(others):
        home = f"00000000-0000-4000-8000-{i:012d}.{alice['realm']}"
        key = alice_key.replace(alice["home_account_id"], home)
        sections["AccessToken"][key] = {
            **alice,
            "home_account_id": home,
            "secret": f"other-user-token-{i:04d}-" + "x" * 200,
            "user_assertion_hash": f"other-assertion-hash-{i:04d}",
        }
    return json.dumps(sections)


def _misses(emulator: Emulator, api: str, blob: str) -> tuple[Any, Counter[tuple[str, str]]]:
    """The loaded cache, and the Python calls of a new assertion's on-behalf-of call after
    two others (an app over ``blob``, loaded; the same user each time)."""
    cache = identitylib.SerializableTokenCache()
    cache.deserialize(blob)
    app = web_api(emulator, api, cache)()
    for _ in range(2):  # (the first reads what it needs of the cache)
        result = call_on(api, app, "acquire_token_on_behalf_of", user_assertion(emulator), GRAPH)
        assert result["token_source"] == "identity_provider", result
    new = user_assertion(emulator)
    results: list[Any] = []
    calls = python_calls(
        lambda: results.append(call_on(api, app, "acquire_token_on_behalf_of", new, GRAPH)),
        qualified=True,
    )
    assert results[0]["token_source"] == "identity_provider", results[0]
    again = call_on(api, app, "acquire_token_on_behalf_of", new, GRAPH)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == results[0]["access_token"]
    return cache, calls


#: The module files of the cache, the flows and the applications (not the transport's,
#: whose reads vary with the network; not those named as h11's are).
_OWN_MODULES = frozenset(
    path.name
    for layer in ("_cache", "_flows", "_application")
    for path in (Path(identitylib.__file__).parent / layer).glob("*.py")
) - {"__init__.py", "_state.py"}


def _own(calls: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """The calls of ``calls`` to the library's own functions."""
    return Counter({call: n for call, n in calls.items() if call[0] in _OWN_MODULES})


@pytest.fixture(scope="module")
def blobs(identitylib_emulator: Emulator) -> dict[str, str]:
    """A small cache (loaded whole) and a big one (loaded lazily)."""
    big = _blob(identitylib_emulator, 400)
    assert len(big) >= FAST_PATH_MIN_CHARS
    return {"small": _blob(identitylib_emulator, 10), "big": big}


@pytest.mark.parametrize("api", APIS)
def test_a_new_assertion_costs_the_same_calls_in_a_lazily_loaded_cache(
    emulator: Emulator, blobs: dict[str, str], api: str
) -> None:
    small, small_calls = _misses(emulator, api, blobs["small"])
    big, big_calls = _misses(emulator, api, blobs["big"])
    assert type(small._cache) is dict
    assert type(big._cache) is RawBacked
    assert _own(big_calls) == _own(small_calls)
    assert len(big._cache["AccessToken"]) == 401  # (each new token replaced Alice's)


@pytest.mark.parametrize("api", APIS)
def test_the_lane_settles_a_new_assertion_of_a_loaded_cache_without_the_lock(
    emulator: Emulator, blobs: dict[str, str], api: str
) -> None:
    _cache, calls = _misses(emulator, api, blobs["big"])
    assert calls[("_store.py", "IndexedSections.settled_access_token")] == 1
    assert calls[("_store.py", "IndexedSections.exact_filed_token")] == 0
    assert calls[("_exact.py", "ExactRequestIndex.hit_for")] == 0


@pytest.mark.parametrize("api", APIS)
def test_the_write_of_a_loaded_cache_reads_its_decoded_sections_as_plain_dicts(
    emulator: Emulator, blobs: dict[str, str], api: str
) -> None:
    _cache, calls = _misses(emulator, api, blobs["big"])
    assert calls[("_store.py", "IndexedSections._put")] >= 2  # (the access and refresh token)
    assert [name for (module, name) in calls if module == "_raw.py"] == []


@pytest.mark.parametrize("api", APIS)
def test_the_app_metadata_of_a_loaded_cache_is_found_unchanged(
    emulator: Emulator, blobs: dict[str, str], api: str
) -> None:
    _cache, calls = _misses(emulator, api, blobs["big"])
    assert calls[("_store.py", "IndexedSections.holds_app_metadata")] == 1
    assert calls[("_marked.py", "MarkedSections.entry")] == 0
    assert calls[("_keys.py", "app_metadata_key")] == 0


def test_a_searched_partition_of_a_loaded_cache_settles_a_request_without_splitting_it(
    emulator: Emulator, blobs: dict[str, str]
) -> None:
    cache, _calls = _misses(emulator, "sync", blobs["big"])
    exact = cache._store.exact_index
    assert exact is not None
    (token,) = [t for t in cache._cache["AccessToken"].values() if t["secret"].startswith("ey")]
    parts = (token["environment"], token["client_id"])
    new = request_key(*parts, token["realm"], None, "never-seen", ["user.read"])
    elsewhere = request_key(*parts, "another-realm", None, "never-seen", ["user.read"])
    called: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            called.append(getattr(arg, "__qualname__", ""))

    sys.setprofile(profile)
    try:
        settled = exact.settled_hit(new)
    finally:
        sys.setprofile(None)
    assert settled is False
    assert "str.split" not in called
    assert exact.settled_hit(elsewhere) is None  # (not searched yet: asked under the lock)
    assert exact.hit_for(elsewhere) is None
    assert exact.settled_hit(elsewhere) is False
