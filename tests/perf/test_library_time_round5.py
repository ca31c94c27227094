"""Library time per token request (bench workload 15), round 5: the on-behalf-of miss,
counted (never timed), in the blocking and the asyncio API.

- An assertion no cached token is bound to is a miss after one probe of each index
  (the access-token index's assertion owners, the refresh-token index by
  ``user_assertion_hash``): no index query made, the requested scopes not even read.
- An on-behalf-of token renewed under a new assertion (the same key: the user's token
  for the same scopes) is filed from one reading of its fields: its old filing is not
  read again, and its request keys in the exact-request index are the ones it had, the
  assertion swapped, not made anew.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import pytest

import identitylib
from identitylib._cache import _exact, _filing, _index
from identitylib.emulator import Emulator

from ._apps import APIS, BOB, GRAPH, call_on, user_assertion, web_api


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, into: list[str]) -> None:
    """Count the calls of ``owner.name`` (a module function: wherever the cache modules
    bound it; a method: on its class) in ``into``."""
    real: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        into.append(name)
        return real(*args, **kwargs)

    if isinstance(owner, type):
        monkeypatch.setattr(owner, name, counted)
        return
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("identitylib.") and getattr(module, name, None) is real:
            monkeypatch.setattr(module, name, counted)


@pytest.mark.parametrize("api", APIS)
def test_a_new_assertion_is_a_miss_after_one_probe_per_index(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    first, second = user_assertion(emulator), user_assertion(emulator, BOB)
    cache = identitylib.TokenCache()
    app = web_api(emulator, api, cache)()
    before = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)  # (builds indices)
    assert before["token_source"] == "identity_provider", before
    asked: list[str] = []
    _count(monkeypatch, _index.SectionIndex, "candidates", asked)
    _count(monkeypatch, _index.AccessTokenIndex, "may_match", asked)
    _count(monkeypatch, sys.modules["identitylib._cache._query"], "requested_scopes", asked)
    result = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert result["token_source"] == "identity_provider", result
    assert asked == []
    # Each assertion still finds its own token, and only its own.
    for assertion, expected in ((first, before), (second, result)):
        again = call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH)
        assert again["token_source"] == "cache", again
        assert again["access_token"] == expected["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_a_token_renewed_under_a_new_assertion_is_filed_from_one_reading(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    first, second = user_assertion(emulator), user_assertion(emulator)
    assert first != second
    cache = identitylib.TokenCache()
    app = web_api(emulator, api, cache)()
    before = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)
    assert before["token_source"] == "identity_provider", before
    hit = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)  # (the exact index)
    assert hit["token_source"] == "cache", hit
    assert cache._store.exact_index is not None
    read: list[str] = []
    _count(monkeypatch, _filing, "filing_of", read)
    _count(monkeypatch, _exact, "requests_of", read)
    _count(monkeypatch, _exact, "request_keys_of", read)
    renewed = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert renewed["token_source"] == "identity_provider", renewed
    assert read == ["filing_of"]  # the new entry's, once; its request keys not made anew
    again = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert again["token_source"] == "cache", again
    assert again["access_token"] == renewed["access_token"]
    old = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)
    assert old["token_source"] == "identity_provider", old  # its token was replaced
