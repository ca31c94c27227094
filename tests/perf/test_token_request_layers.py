"""Library time per token request (bench workload 15), round 4: structural cuts, counted
(never timed), in the blocking and the asyncio API.

- A token request with no cached token to fall back on runs without the fallback layer
  (``serve_cached_on_failure``), and the blocking single-flight drives the flow itself
  (no ``_resume`` generator between them): counted as the generator frames on the stack
  when the token response is parsed.
- A cache without access hooks is looked up and written in line: no ``in_cache`` step.
- An access token's index components are read once per write and shared by the
  access-token and the exact-request indices (one ``scope_set`` per write, not one each).
- An on-behalf-of token renewed under a new assertion (the same key) moves to the new
  assertion's partition without being unfiled and refiled in the access-token index.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import pytest

import identitylib
from identitylib._cache import _filing, _index, _query
from identitylib._flows import _user_tokens, client_credentials, on_behalf_of, silent
from identitylib.emulator import DEMO_API_URI, Emulator

from ._apps import APIS, GRAPH, call_on, daemon, public_client, sign_in, user_assertion, web_api

#: Generator layers a token request passes through only when they have work to do.
_IDLE_LAYERS = {"_resume", "serve_cached_on_failure", "in_cache"}


def _stack_names_when_parsing(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The names of the frames on the stack each time a token response is parsed (by the
    client-credentials flow or by any user flow's redeem)."""
    seen: list[list[str]] = []
    for module in (client_credentials, _user_tokens):
        real: Callable[..., Any] = module.parse_token_response

        def spied(*args: Any, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            names, frame = [], sys._getframe(1)
            while frame is not None:
                names.append(frame.f_code.co_name)
                frame = frame.f_back
            seen.append(names)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, "parse_token_response", spied)
    return seen


def _count_in_cache(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``in_cache`` step the flows take (the function's name per call)."""
    steps: list[str] = []
    for module in (client_credentials, on_behalf_of, silent, _user_tokens):
        real: Callable[..., Any] = module.in_cache

        def counted(*args: Any, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            steps.append("in_cache")
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, "in_cache", counted)
    return steps


# ----------------------------------------------------------------- generator layers


@pytest.mark.parametrize("api", APIS)
def test_a_client_credentials_miss_runs_no_idle_layer(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    app = daemon(emulator, api, identitylib.SerializableTokenCache())()
    first = call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    assert first["token_source"] == "identity_provider", first  # (discovery done)
    stacks = _stack_names_when_parsing(monkeypatch)
    steps = _count_in_cache(monkeypatch)
    result = call_on(api, app, "acquire_token_for_client", ["https://graph.microsoft.com/.default"])
    assert result["token_source"] == "identity_provider", result
    assert len(stacks) == 1
    assert _IDLE_LAYERS.isdisjoint(stacks[0]), stacks[0]
    assert steps == []
    again = call_on(api, app, "acquire_token_for_client", ["https://graph.microsoft.com/.default"])
    assert again["access_token"] == result["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_an_on_behalf_of_miss_runs_no_idle_layer(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    assertion = user_assertion(emulator)
    app = web_api(emulator, api, identitylib.TokenCache())()
    stacks = _stack_names_when_parsing(monkeypatch)
    steps = _count_in_cache(monkeypatch)
    result = call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert result["token_source"] == "identity_provider", result
    assert len(stacks) == 1
    assert _IDLE_LAYERS.isdisjoint(stacks[0]), stacks[0]
    assert steps == []
    again = call_on(api, app, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert again["access_token"] == result["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_a_silent_refresh_runs_no_idle_layer(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    cache = identitylib.SerializableTokenCache()
    account = sign_in(emulator, "sync", cache)
    app = public_client(emulator, api, cache)()
    stacks = _stack_names_when_parsing(monkeypatch)
    steps = _count_in_cache(monkeypatch)
    result = call_on(api, app, "acquire_token_silent", GRAPH, account)  # (a scope not cached)
    assert result is not None
    assert result["token_source"] == "identity_provider", result
    assert len(stacks) == 1
    assert _IDLE_LAYERS.isdisjoint(stacks[0]), stacks[0]
    assert steps == []


@pytest.mark.parametrize("api", APIS)
def test_a_cache_with_access_hooks_still_gets_its_steps(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """The in-line path is for caches without hooks only: a cache with hooks has its
    lookup and its write each between its hooks."""
    calls: list[str] = []

    def before(context: Any) -> None:
        calls.append("before")

    def after(context: Any) -> None:
        calls.append("after")

    cache = identitylib.TokenCache(before_access=before, after_access=after)
    app = daemon(emulator, api, cache)()
    steps = _count_in_cache(monkeypatch)
    result = call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    assert result["token_source"] == "identity_provider", result
    assert steps == ["in_cache", "in_cache"]  # the lookup, the write
    assert calls.count("before") >= 2
    assert calls.count("before") == calls.count("after")


# ---------------------------------------------------------- the write, read once


@pytest.mark.parametrize("api", APIS)
def test_an_access_token_write_reads_its_scopes_once(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """Both indices of the access-token section (built by the first call's lookups) file
    the new token from one reading of its fields."""
    app = daemon(emulator, api, identitylib.SerializableTokenCache())()
    call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])
    call_on(api, app, "acquire_token_for_client", [f"{DEMO_API_URI}/.default"])  # a hit
    store = app.token_cache._store
    assert store.exact_index is not None
    assert "AccessToken" in store.indices_built()
    real = _query.scope_set
    read: list[object] = []

    def counted(target: Any) -> Any:
        read.append(target)
        return real(target)

    for name, module in list(sys.modules.items()):  # wherever the cache modules bound it
        if name.startswith("identitylib._cache.") and getattr(module, "scope_set", None) is real:
            monkeypatch.setattr(module, "scope_set", counted)
    filings: list[object] = []
    real_made = _filing.made_filing

    def made(*args: Any) -> Any:
        filings.append(args[5])  # (its target)
        return real_made(*args)

    for name, module in list(sys.modules.items()):
        if name.startswith("identitylib._cache.") and getattr(module, "made_filing", None) is (
            real_made
        ):
            monkeypatch.setattr(module, "made_filing", made)
    result = call_on(api, app, "acquire_token_for_client", ["https://graph.microsoft.com/.default"])
    assert result["token_source"] == "identity_provider", result
    # One filing, its writer's (see test_cache_write.py), reads the scopes (a string: in
    # line, scope_set not called); neither index reads them again.
    assert filings == ["https://graph.microsoft.com/.default"]
    assert read == []
    again = call_on(api, app, "acquire_token_for_client", ["https://graph.microsoft.com/.default"])
    assert again["access_token"] == result["access_token"]


@pytest.mark.parametrize("api", APIS)
def test_a_token_renewed_under_a_new_assertion_moves_without_refiling(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """The user's access token for the same scopes, obtained with a new assertion, is
    stored under the same key: it moves to the new assertion's partition (no remove and
    add in the access-token index), and only the new assertion finds it."""
    first, second = user_assertion(emulator), user_assertion(emulator)
    assert first != second
    cache = identitylib.TokenCache()
    app = web_api(emulator, api, cache)()
    before = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)
    assert before["token_source"] == "identity_provider", before
    moved: list[str] = []
    for name in ("add", "remove"):
        real: Callable[..., Any] = getattr(_index.AccessTokenIndex, name)

        def counted(self: Any, *args: Any, _real: Any = real, _name: str = name) -> Any:
            moved.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(_index.AccessTokenIndex, name, counted)
    renewed = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert renewed["token_source"] == "identity_provider", renewed
    assert moved == []
    (at,) = cache.search("AccessToken", query={"user_assertion_hash": cache_hash(second)})
    assert at["secret"] == renewed["access_token"]
    assert list(cache.search("AccessToken", query={"user_assertion_hash": cache_hash(first)})) == []
    again = call_on(api, app, "acquire_token_on_behalf_of", second, GRAPH)
    assert again["token_source"] == "cache"
    assert again["access_token"] == renewed["access_token"]
    other = call_on(api, app, "acquire_token_on_behalf_of", first, GRAPH)
    assert other["token_source"] == "identity_provider"  # its token was replaced


def cache_hash(assertion: str) -> str:
    """The ``user_assertion_hash`` tokens obtained with ``assertion`` are cached under."""
    from identitylib._cache import assertion_hash

    return assertion_hash(assertion)


# ------------------------------------------------------------------- request ids


def test_a_request_id_needs_no_system_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``client-request-id`` of every request is a random UUID made without reading
    ``os.urandom`` (a system call per request): unique, version 4, canonical."""
    import os
    import uuid

    from identitylib._protocol._request import new_request_id

    def refused(size: int) -> bytes:
        raise AssertionError("os.urandom read for a request id")

    monkeypatch.setattr(os, "urandom", refused)
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for made in ids:
        parsed = uuid.UUID(made)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == made


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_forked_workers_do_not_repeat_request_ids() -> None:
    import os

    from identitylib._protocol._request import new_request_id

    new_request_id()  # (the parent's generator in use before the fork)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        try:
            os.write(write_end, new_request_id().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        child_id = os.read(read_end, 64).decode()
    finally:
        os.close(read_end)
        os.waitpid(child, 0)
    assert len(child_id) == 36
    assert child_id != new_request_id()


def test_an_app_seeding_random_does_not_repeat_request_ids() -> None:
    """An app (or its test suite) calling ``random.seed`` does not make request ids repeat:
    they come from a generator of their own."""
    import random

    from identitylib._protocol._request import new_request_id

    state = random.getstate()
    try:
        random.seed(1234)
        first = new_request_id()
        random.seed(1234)
        second = new_request_id()
    finally:
        random.setstate(state)
    assert first != second
