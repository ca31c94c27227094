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
    cache.deserialize(text.encode("utf-8"))  # type: ignore[arg-type]
    assert len(cache._cache["AccessToken"]) == 2_000
