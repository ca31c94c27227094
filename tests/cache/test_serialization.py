"""serialize()/deserialize(): compact JSON, round trips, state flag, corrupt input."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from identitylib._cache import SerializableTokenCache, TokenCache
from identitylib.exceptions import TokenCacheError

from ._builders import HOST, NOW, at_query, client_credentials_event, user_event

AT = "AccessToken"


def filled() -> SerializableTokenCache:
    cache = SerializableTokenCache()
    cache.add(user_event(foci="1"), now=NOW)
    cache.add(client_credentials_event(), now=NOW)
    return cache


def hits(cache: TokenCache, home: str | None = "oid1.tid") -> list[str]:
    query = at_query(home)
    return [e["secret"] for e in cache.search(AT, target=[], query=query, now=NOW)]


def test_serialize_is_compact_json():
    cache = filled()
    text = cache.serialize()
    assert "\n" not in text
    assert ": " not in text
    assert ", " not in text.replace("User.Read email", "")
    assert text == json.dumps(json.loads(text), separators=(",", ":"))
    assert set(json.loads(text)) == {
        "AccessToken",
        "RefreshToken",
        "IdToken",
        "Account",
        "AppMetadata",
    }


def test_has_state_changed_lifecycle():
    cache = SerializableTokenCache()
    assert cache.has_state_changed is False
    cache.add(client_credentials_event(expires_in=10), now=NOW)
    assert cache.has_state_changed
    text = cache.serialize()
    assert cache.has_state_changed is False
    list(cache.search(AT, query=at_query(None), now=NOW))
    assert cache.has_state_changed is False  # A plain read.
    list(cache.search(AT, query=at_query(None), now=NOW + 60))  # Purges the expired AT.
    assert cache.has_state_changed
    cache.deserialize(text)
    assert cache.has_state_changed is False
    cache.add(user_event(), now=NOW)
    for step in (
        lambda: cache.update_rt(next(iter(cache._cache["RefreshToken"].values())), "new"),
        lambda: cache.remove_idt(next(iter(cache._cache["IdToken"].values()))),
        lambda: cache.remove_account(next(iter(cache._cache["Account"].values()))),
        lambda: cache.remove_rt(next(iter(cache._cache["RefreshToken"].values()))),
        lambda: cache.remove_at(next(iter(cache._cache[AT].values()))),
        lambda: cache.modify("AppMetadata", {"client_id": "cid", "environment": HOST}, {"x": 1}),
    ):
        cache.serialize()
        step()
        assert cache.has_state_changed


def test_deserialize_replaces_and_empties():
    cache = filled()
    cache.deserialize(json.dumps({"AccessToken": {}}))
    assert cache._cache == {"AccessToken": {}}
    assert hits(cache) == []
    for empty in (None, ""):
        filled_cache = filled()
        filled_cache.deserialize(empty)
        assert filled_cache._cache == {}
        assert filled_cache.serialize() == "{}"


def test_unknown_sections_and_fields_survive_a_round_trip():
    state = json.loads(filled().serialize())
    at_key = next(iter(state[AT]))
    state[AT][at_key]["x_future_field"] = {"nested": [1, 2]}
    state["FutureSection"] = {"k": {"anything": True}}
    state["Version"] = 3
    cache = SerializableTokenCache()
    cache.deserialize(json.dumps(state))
    assert json.loads(cache.serialize()) == state
    assert sorted(hits(cache)) == ["user-at"]


def test_round_trip_keeps_every_lookup_working():
    original = filled()
    copy = SerializableTokenCache()
    copy.deserialize(original.serialize())
    assert copy._cache == original._cache
    assert hits(copy) == ["user-at"]
    assert hits(copy, None) == ["app-at"]
    assert len(copy._accounts(HOST)) == 1


CORRUPT = [
    pytest.param("not json", id="not-json"),
    pytest.param("{", id="truncated"),
    pytest.param("[]", id="top-level-list"),
    pytest.param('"text"', id="top-level-string"),
    pytest.param("null", id="top-level-null"),
    pytest.param('{"AccessToken": []}', id="section-list"),
    pytest.param('{"Account": "x"}', id="section-string"),
    pytest.param("[" * 100_000, id="deep-list"),
    pytest.param('{"AccessToken": {"k": ' + "{" * 100_000, id="deep-object"),
    pytest.param('{"AccessToken": {"k": ' + '{"a":' * 50_000 + "1" + "}" * 50_002, id="deep-valid"),
    pytest.param(b"\xff\xfe", id="bad-utf8"),
    pytest.param(42, id="not-a-string"),
]


@pytest.mark.parametrize("state", CORRUPT)
def test_corrupt_input_raises_and_keeps_the_previous_content(state: Any):
    cache = filled()
    before = cache.serialize()
    with pytest.raises(TokenCacheError, match="token cache"):
        cache.deserialize(state)
    assert isinstance(TokenCacheError("x"), ValueError)
    assert cache.serialize() == before
    assert hits(cache) == ["user-at"]
    cache.add(user_event(uid="oid2", access_token="after"), now=NOW)
    assert hits(cache, "oid2.tid") == ["after"]


def test_non_object_entries_are_dropped_with_a_warning(caplog):
    state = json.loads(filled().serialize())
    state[AT]["bogus"] = "a string"
    state[AT]["bogus2"] = [1]
    state["Account"]["bogus"] = None
    cache = SerializableTokenCache()
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        cache.deserialize(json.dumps(state))
    assert "Dropped 2 AccessToken entries" in caplog.text
    assert "Dropped 1 Account entry" in caplog.text
    assert "bogus" not in cache._cache[AT]
    assert sorted(hits(cache)) == ["user-at"]


def test_bytes_state_is_accepted():
    cache = SerializableTokenCache()
    cache.deserialize(filled().serialize().encode())  # type: ignore[arg-type]
    assert hits(cache) == ["user-at"]


def test_replacing_or_editing_sections_directly_is_noticed():
    cache = filled()
    cache._cache = json.loads(filled().serialize())
    assert hits(cache) == ["user-at"]
    entry = dict(next(iter(cache._cache[AT].values())), secret="poked", home_account_id="x.y")
    cache._cache[AT]["poked-key"] = entry
    assert hits(cache, "x.y") == ["poked"]
    cache._cache[AT] = {}
    assert hits(cache) == []


def test_deserializing_100k_access_tokens_builds_indices():
    # How fast is bench/'s to measure (bench/cache_scaling.py): here, that it is right.
    entries = {}
    for i in range(100_000):
        entries[f"-{HOST}-accesstoken-cid-tid-api://r{i}/.default"] = {
            "credential_type": "AccessToken",
            "secret": f"a{i}",
            "home_account_id": None,
            "environment": HOST,
            "client_id": "cid",
            "target": f"api://r{i}/.default",
            "realm": "tid",
            "token_type": "Bearer",
            "cached_at": str(NOW),
            "expires_on": str(NOW + 3600),
            "extended_expires_on": str(NOW + 3600),
        }
    text = json.dumps({AT: entries})
    cache = SerializableTokenCache()
    cache.deserialize(text)
    query = at_query(None)
    found = cache.search(AT, target=["API://r99999/.default"], query=query, now=NOW)
    assert [e["secret"] for e in found] == ["a99999"]


class SharedBlobCache(SerializableTokenCache):
    """Shaped like msal-extensions' PersistedTokenCache: reload on read, write through."""

    def __init__(self, blob: dict[str, str]) -> None:
        super().__init__()
        self.blob = blob

    def modify(self, credential_type: str, old_entry: Any, new_key_value_pairs: Any = None) -> None:
        with self._lock:
            self.deserialize(self.blob.get("state"))
            super().modify(credential_type, old_entry, new_key_value_pairs)
            self.blob["state"] = self.serialize()

    def search(self, credential_type: str, **kwargs: Any) -> Any:  # type: ignore[override]
        self.deserialize(self.blob.get("state"))
        return super().search(credential_type, **kwargs)


def test_persistence_style_subclass_sees_other_instances_and_persists_purges():
    blob: dict[str, str] = {}
    writer, reader = SharedBlobCache(blob), SharedBlobCache(blob)
    writer.add(client_credentials_event(["a"], access_token="short", expires_in=10), now=NOW)
    writer.add(user_event(), now=NOW)
    assert hits(reader) == ["user-at"]
    later = NOW + 60
    found = reader.search(AT, target=["a"], query=at_query(None), now=later)
    assert [e["secret"] for e in found] == ["short"]  # the exact-key AT, expired: as msal
    assert "short" not in blob["state"]  # and purged once the search went past it
    assert hits(writer) == ["user-at"]
