"""Big caches go through msgspec; what it refuses or would write differently goes through json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from identitylib import SerializableTokenCache
from identitylib._cache import _serialization
from identitylib.exceptions import TokenCacheError
from tests._servers import require_module

require_module("msgspec")  # a dependency on CPython: missing there is a broken install


def _big_state(extra_entry: dict[str, Any] | None = None, n: int = 2_000) -> dict[str, Any]:
    tokens = {
        f"uid{i}.utid-login.example-accesstoken-client-tenant-scope": {
            "credential_type": "AccessToken",
            "secret": "eyJ" + "x" * 40,
            "home_account_id": f"uid{i}.utid",
            "environment": "login.example",
            "client_id": "client",
            "realm": "tenant",
            "target": "scope",
            "cached_at": "1700000000",
            "expires_on": "1700003600",
        }
        for i in range(n)
    }
    if extra_entry is not None:
        tokens["extra"] = extra_entry
    return {"AccessToken": tokens, "RefreshToken": {}, "Unknown": {"kept": [1, 2.5, None]}}


def test_big_caches_take_the_fast_path_with_the_standard_librarys_output(monkeypatch):
    used: list[str] = []
    fast = _serialization._msgspec_json()
    assert fast is not None
    counted = fast._replace(
        decode_raw_values=lambda t: (used.append("decode"), fast.decode_raw_values(t))[1],
        decode_raw_entries=lambda t: (used.append("decode"), fast.decode_raw_entries(t))[1],
        encode=lambda v: (used.append("encode"), fast.encode(v))[1],
    )
    monkeypatch.setattr(_serialization, "_msgspec_json", lambda: counted)
    state = _big_state()
    text = json.dumps(state, separators=(",", ":"))
    assert len(text) >= _serialization.FAST_PATH_MIN_CHARS
    cache = SerializableTokenCache()
    cache.deserialize(text)
    assert cache.serialize() == text
    assert used == ["decode"]  # never read since loaded: the text it was loaded from
    section = cache._cache["AccessToken"]
    assert section[next(iter(section))]["credential_type"] == "AccessToken"
    assert cache.serialize() == text
    assert used[-1] == "encode"  # an entry was read


def test_small_caches_never_import_msgspec(monkeypatch):
    monkeypatch.setattr(_serialization, "_msgspec_json", lambda: pytest.fail("fast path used"))
    cache = SerializableTokenCache()
    small = json.dumps(_big_state(n=3))
    cache.deserialize(small)
    assert json.loads(cache.serialize()) == json.loads(small)


@pytest.mark.parametrize(
    "odd",
    [
        '{"value": NaN}',  # json accepts NaN, msgspec does not
        '{"value": "\\ud800"}',  # a lone surrogate escape
    ],
)
def test_what_msgspec_refuses_json_reads_as_msal_would(odd: str):
    text = json.dumps(_big_state({"credential_type": "AccessToken", "odd": "<odd>"}))
    text = text.replace('{"credential_type": "AccessToken", "odd": "<odd>"}', odd)
    cache = SerializableTokenCache()
    cache.deserialize(text)
    assert cache._cache["AccessToken"]["extra"] == json.loads(odd)


def test_non_ascii_content_is_written_escaped_as_json_does():
    state = _big_state({"credential_type": "Account", "username": "zoë@例え.jp"})
    cache = SerializableTokenCache()
    cache.deserialize(json.dumps(state))
    text = cache.serialize()
    assert text.isascii()
    assert "\\u00eb" in text
    assert json.loads(text) == state


def test_non_ascii_text_is_written_escaped_as_json_does():
    state = _big_state({"credential_type": "Account", "username": "zoë@例え.jp"})
    cache = SerializableTokenCache()
    cache.deserialize(json.dumps(state, ensure_ascii=False))
    text = cache.serialize()
    assert text.isascii()
    assert "\\u00eb" in text
    assert text == json.dumps(json.loads(text), separators=(",", ":"))
    assert json.loads(text) == state


def test_corrupt_big_cache_reports_the_json_error_and_keeps_content():
    cache = SerializableTokenCache()
    cache.deserialize(json.dumps(_big_state(n=5)))
    text = json.dumps(_big_state())
    with pytest.raises(TokenCacheError, match="not valid JSON: Expecting"):
        cache.deserialize(text[:-10])
    assert len(cache._cache["AccessToken"]) == 5


def test_bytes_of_a_big_cache_are_read():
    text = json.dumps(_big_state())
    cache = SerializableTokenCache()
    cache.deserialize(text.encode("utf-8"))
    assert len(cache._cache["AccessToken"]) == 2_000


def test_ascii_bytes_are_read_as_they_are():
    """The bytes of a file as read (what json and msal write is ASCII) are the loaded text
    itself: no str is made of them, and serialize() still returns a str."""
    text = json.dumps(_big_state())
    data = text.encode("ascii")
    cache = SerializableTokenCache()
    cache.deserialize(data)
    assert cache._cache.loaded_text() is data
    written = cache.serialize()
    assert type(written) is str
    assert written == text
    section = cache._cache["AccessToken"]
    assert section[next(iter(section))]["client_id"] == "client"
    assert json.loads(cache.serialize()) == _big_state()


def test_utf8_bytes_that_are_not_ascii_are_decoded():
    state = _big_state({"credential_type": "AccessToken", "secret": "zoë-例え"})
    data = json.dumps(state, ensure_ascii=False).encode("utf-8")
    cache = SerializableTokenCache()
    cache.deserialize(data)
    assert cache._cache["AccessToken"]["extra"]["secret"] == "zoë-例え"
    assert json.loads(cache.serialize()) == state


@pytest.mark.parametrize("where", ["in a value", "in a key", "at the end"])
def test_bytes_that_are_not_utf8_fail_deserialize_and_keep_the_content(where):
    """msgspec does not check the UTF-8 of the values it keeps raw: such bytes are refused
    at deserialize() all the same, never served nor raised later."""
    cache = SerializableTokenCache()
    cache.deserialize(json.dumps(_big_state(n=5)))
    data = json.dumps(_big_state()).encode("ascii")
    broken = {
        "in a value": data.replace(b'"eyJ', b'"\xffeyJ', 1),
        "in a key": data.replace(b'"uid7.utid', b'"uid7\xc3.utid', 1),
        "at the end": data + b"\xe2\x82",
    }[where]
    with pytest.raises(TokenCacheError, match="not UTF-8 text"):
        cache.deserialize(broken)
    assert len(cache._cache["AccessToken"]) == 5


@pytest.mark.parametrize("size", ["small", "big"])
def test_corrupt_bytes_report_the_same_error_as_the_text(size):
    text = json.dumps(_big_state(n=5 if size == "small" else 2_000))
    for corrupt in (text[:-10], "\x00" + text, text.replace('"scope"', '"scope",,', 1)):
        with pytest.raises(TokenCacheError) as from_text:
            SerializableTokenCache().deserialize(corrupt)
        with pytest.raises(TokenCacheError) as from_bytes:
            SerializableTokenCache().deserialize(corrupt.encode("ascii"))
        assert str(from_bytes.value) == str(from_text.value)
        assert "not valid JSON" in str(from_text.value)
