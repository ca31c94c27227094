"""The path of a token request, from the public method to the flow and back, less the
cache write (bench workload 15's library time): what it runs, counted (never timed), for
a client-credentials miss, a silent refresh through the refresh token and an on-behalf-of
miss, in the blocking and the asyncio API.

- The blocking driver joins the single-flight itself: no coalescing generator, strategy
  call or closure between the driver and the flow.
- What is the same for every request of an app is made once: the credential's fields
  (a secret), the client headers; a miss makes no partition key, realm list or partial
  it does not use, and asks once whether the cache has access hooks.
- The parsed response is the cache event's (not copied); the app's result is its one copy.
- The transport decides a success without the throttle rule or the retry policy's call;
  the response is parsed without ``json.loads``'s wrapper or coercions of what is
  already an int or ``Bearer``.
- A plain call looks at no option it was not given; the telemetry wrapper counts it in
  line; messages and plans set their fields in one step; no frame around the clock.
"""

from __future__ import annotations

import contextvars
import sys
from collections import Counter
from functools import partial
from typing import Any, Callable

import pytest

import identitylib
from identitylib.emulator import Emulator

from ._apps import (
    APIS,
    APP_SCOPES,
    BOB,
    GRAPH,
    USER_SCOPES,
    call_on,
    daemon,
    public_client,
    served_once,
    sign_in,
)
from ._counting import builtin_calls, python_calls

Calls = Counter[tuple[str, str]]
CASES = ("cc", "rt", "obo")


def _counted_miss(
    emulator: Emulator, api: str, case: str, count: Callable[..., Any] = python_calls
) -> tuple[Calls, dict[str, Any]]:
    """One miss of ``case`` on an app whose authority is known and whose telemetry totals
    are made (as after any call before), counted (in a context of its own, as an app's
    thread has: no earlier test's context variable seen); and its result. ``count``:
    what counts (``python_calls``, or ``builtin_calls``: keys are names then)."""
    return contextvars.Context().run(_counted_miss_here, emulator, api, case, count)


def _counted_miss_here(
    emulator: Emulator, api: str, case: str, python_calls: Callable[..., Any]
) -> tuple[Calls, dict[str, Any]]:
    results: list[Any] = []
    if case == "cc":
        app = daemon(emulator, api, identitylib.TokenCache())()
        assert "access_token" in call_on(api, app, "acquire_token_for_client", APP_SCOPES)
        call_on(api, app, "remove_tokens_for_client")
        calls = python_calls(
            lambda: results.append(call_on(api, app, "acquire_token_for_client", APP_SCOPES))
        )
    elif case == "rt":
        cache = identitylib.TokenCache()
        account = sign_in(emulator, "sync", cache)
        app = public_client(emulator, api, cache)()
        hit = call_on(api, app, "acquire_token_silent", USER_SCOPES, account)
        assert hit["token_source"] == "cache", hit  # (its authority's realm known now)
        app.get_token_totals()  # (its totals made, as any call before would have)
        calls = python_calls(
            lambda: results.append(call_on(api, app, "acquire_token_silent", GRAPH, account))
        )
    else:
        served = served_once(emulator, api, BOB)
        calls = python_calls(
            lambda: results.append(
                call_on(api, served.app, "acquire_token_on_behalf_of", served.second, GRAPH)
            )
        )
    result = results[0]
    assert result["token_source"] == "identity_provider", result
    return calls, result


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_shared_miss_joins_its_flight_in_the_driver(
    emulator: Emulator, api: str, case: str
) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    for name in ("_coalesced", "coalesce", "coalesced"):
        assert calls["_single_flight.py", name] == 0, name
    if api == "sync":  # (the asyncio API shares a task instead)
        assert calls["_single_flight.py", "join"] == 1
        assert calls["_single_flight.py", "leave"] == 1
        assert calls["_single_flight.py", "__init__"] == 0  # (a Flight: no frame of ours)
        # The driver, imported once per app: no package lookup per call.
        assert calls["<frozen importlib._bootstrap>", "_handle_fromlist"] == 0


@pytest.mark.parametrize("api", APIS)
def test_the_credential_fields_and_client_headers_are_made_once_per_app(
    emulator: Emulator, api: str
) -> None:
    from identitylib._credential import _base as credential

    app = daemon(emulator, api, identitylib.TokenCache())()
    asked: list[str] = []
    real = credential.ClientSecret.auth_fields

    def auth_fields(self: Any, **kwargs: Any) -> Any:
        asked.append(kwargs["token_endpoint"])
        return real(self, **kwargs)

    calls: Calls = Counter()
    patch = pytest.MonkeyPatch()
    patch.setattr(credential.ClientSecret, "auth_fields", auth_fields)
    try:
        for _ in range(3):  # three misses of one app
            call_on(api, app, "remove_tokens_for_client")
            calls += python_calls(lambda: call_on(api, app, "acquire_token_for_client", APP_SCOPES))
    finally:
        patch.undo()
    assert len(asked) == 1  # the first request's: a secret's fields are the same for all
    assert calls["_request.py", "client_headers"] == 1
    assert calls["_request.py", "new_request_id"] == 3  # (each request its own id)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_miss_makes_nothing_it_does_not_use(emulator: Emulator, api: str, case: str) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_own.py", "has_access_hooks"] <= 1  # asked once at most (no hooks here)
    assert calls["_access.py", "app_partition_key"] == 0  # (a partition: for hooks only)
    assert calls["_access.py", "user_partition_key"] == 0
    assert calls["_authority.py", "cache_realms"] == 0  # (for other libraries' forms only)
    assert calls["_token_query.py", "cache_realm"] == 0  # (a realm known: no generator)
    assert calls["_authority.py", "metadata_flow"] == 0  # (metadata known: no generator)
    assert calls["_state.py", "now"] == 0  # (the clock itself, no frame of ours)
    assert calls["_state.py", "new_correlation_id"] == 0
    assert calls["_authority.py", "environment"] == 0  # (made once per authority)
    assert calls["_token_query.py", "access_token_query"] == 0  # (a plain query: complete)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ["cc", "rt"])
def test_whether_the_cache_has_access_hooks_is_asked_once_per_app_state(
    emulator: Emulator, api: str, case: str
) -> None:
    """A cache's access hooks are its class's and those it was made with: the app's state
    asks once, its next misses do not ask again."""
    cache = identitylib.TokenCache()
    if case == "cc":
        app = daemon(emulator, api, cache)()
        method, args = "acquire_token_for_client", [APP_SCOPES]
    else:  # (forced: a refresh each time)
        app = public_client(emulator, api, cache)()
        method, args = "acquire_token_silent", [GRAPH, sign_in(emulator, "sync", cache), None, True]
    counts = []
    for _ in range(2):
        if case == "cc":
            call_on(api, app, "remove_tokens_for_client")
        calls = python_calls(lambda: call_on(api, app, method, *args))
        assert calls["_state.py", "cache_has_hooks"] >= 1
        counts.append(calls["_own.py", "has_access_hooks"])
    assert counts == [1, 0]


def test_another_cache_is_asked_for_its_access_hooks_by_its_own_state() -> None:
    from dataclasses import replace

    from identitylib._authority import Authority, TrustKey, parse_authority
    from identitylib._flows._state import AppState

    authority = Authority(parse_authority("https://login.example.com/tenant"), trust=TrustKey.of())
    state = AppState("c", authority, identitylib.TokenCache())
    assert state.cache_has_hooks() is False
    hooked = identitylib.TokenCache(before_access=lambda access: None)
    assert replace(state, token_cache=hooked).cache_has_hooks() is True
    assert state.cache_has_hooks() is False


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_the_cache_event_holds_the_parsed_response_itself(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str, case: str
) -> None:
    from identitylib._cache import TokenCache
    from identitylib._flows import _user_tokens, client_credentials

    parsed: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    def recorded(parse: Callable[..., Any]) -> Callable[..., Any]:
        def parse_token_response(*args: Any, **kwargs: Any) -> Any:
            parsed.append(parse(*args, **kwargs))
            return parsed[-1]

        return parse_token_response

    for module in (client_credentials, _user_tokens):
        monkeypatch.setattr(module, "parse_token_response", recorded(module.parse_token_response))
    real_add = TokenCache.add

    def add(self: TokenCache, event: Any, now: Any = None) -> None:
        events.append(event)
        real_add(self, event, now)

    monkeypatch.setattr(TokenCache, "add", add)
    _, result = _counted_miss(emulator, api, case)
    assert events[-1]["response"] is parsed[-1]  # (not a copy of it)
    assert result is not parsed[-1]  # the app's result: its one copy
    assert result["access_token"] == parsed[-1]["access_token"]
    assert "token_source" not in parsed[-1]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_success_asks_neither_the_throttle_rule_nor_the_retry_policy(
    emulator: Emulator, api: str, case: str
) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_throttle.py", "is_token_post"] == 0
    assert calls["_throttle.py", "throttle_seconds"] == 0
    assert calls["_policy.py", "after_response"] == 0


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_success_calls_no_throttle_or_policy_method_and_is_timed_in_one_step(
    emulator: Emulator, api: str, case: str
) -> None:
    """Nothing remembered to replay and a final answer the throttle does not remember: the
    transport calls neither the throttle's ``check`` nor its ``record``, nor the policy's
    rule (``answer_decision`` decides a success without it); the totals time the attempt
    without an object ``__init__``."""
    calls, _ = _counted_miss(emulator, api, case)
    for name in ("check", "record", "_check_throttle", "_record_throttle", "after_response"):
        assert calls["_throttle.py", name] + calls["_async.py", name] == 0, name
        assert calls["_policy.py", name] == 0, name
    assert calls["_totals.py", "attempt"] == 1
    assert calls["_totals.py", "answered"] == 1
    assert calls["_totals.py", "__init__"] == 0
    assert calls["_sync.py", "_sends_itself"] == 0  # (the app's own client: a field read)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_call_and_its_request_are_counted_in_the_threads_row_without_a_call_for_it(
    emulator: Emulator, api: str, case: str
) -> None:
    """The thread's row of the app's totals is a thread-local attribute, registered on the
    thread's first read: the call's count and its request's time read it without a call."""
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_totals.py", "add"] == 1
    assert calls["_totals.py", "_row"] == 0
    assert calls["_totals.py", "_register"] == 0  # (the app's thread: registered before)


def test_a_throttle_replays_once_it_has_recorded_or_when_it_shares_an_http_cache() -> None:
    """``may_replay`` is False only while ``check`` could answer nothing."""
    from identitylib._protocol._messages import HttpRequest, HttpResponse
    from identitylib._transport._throttle import NoThrottle, Throttle

    request = HttpRequest("POST", "https://idp.example/t", None, {"grant_type": "g"}, {}, False)
    refused = HttpResponse(400, '{"error": "invalid_grant"}', {})
    throttle = Throttle()
    assert not throttle.may_replay
    throttle.record(request, HttpResponse(200, "{}", {}))
    assert not throttle.may_replay
    assert throttle.check(request) is None
    throttle.record(request, refused)
    assert throttle.may_replay
    assert throttle.check(request) is not None
    shared: dict[str, object] = {}
    Throttle(shared).record(request, refused)
    other = Throttle(shared)
    assert other.may_replay
    assert other.check(request) is not None
    assert not NoThrottle().may_replay
    assert NoThrottle().statuses == frozenset()


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_token_response_is_parsed_without_wrappers_or_coercions(
    emulator: Emulator, api: str, case: str
) -> None:
    calls, result = _counted_miss(emulator, api, case)
    assert calls["_token_response.py", "parse_token_response"] == 1
    assert calls["_token_response.py", "coerce_seconds"] == 0  # (ints, as sent)
    assert calls["_token_response.py", "token_type_problem"] == 0  # (Bearer, as sent)
    assert calls["_messages.py", "is_success"] == 0
    # The body is one JSON value, read by the scanner alone; json.loads (and the decoder
    # around the scanner) decodes only an ID token's claims (rt, obo).
    in_json = sys.modules["json"].loads.__code__.co_filename.replace("\\", "/")
    loads = calls[in_json.rsplit("/", 1)[-1], "loads"]
    assert calls["decoder.py", "decode"] == loads
    assert isinstance(result["expires_in"], int)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_plain_call_looks_at_no_option_it_was_not_given(
    emulator: Emulator, api: str, case: str
) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_request.py", "check_ssh_cert_data"] == 0
    assert calls["_client_calls.py", "_check_claims_text"] == 0
    assert calls["_accounts.py", "_tenant_authority"] == 0
    assert calls["_plan.py", "then"] == 0  # (acquire_token_silent: one finish, no wrapper)
    assert calls["_plan.py", "<lambda>"] == 0
    assert calls["_token_query.py", "extra_fields"] == 0  # (no data, claims or path: none)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_the_telemetry_wrapper_and_the_messages_take_one_step_each(
    emulator: Emulator, api: str, case: str
) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_measured.py", "_count"] == 0  # counted in line
    assert calls["_measured.py", "totals_of"] == 0  # (the app's totals, read in line)
    assert calls["_totals.py", "_kind"] == 0  # (a token: counted in line)
    assert calls["_totals.py", "add_http"] == 0  # (the attempt's time: added in line)
    # The request, its answer and the plan set their fields in one step each (not the
    # generated __init__ of a frozen dataclass, one call per field); the on-behalf-of
    # grant's shared values are a tuple.
    assert calls["_messages.py", "__init__"] == 2
    assert calls["_plan.py", "__init__"] == 1
    assert calls["on_behalf_of.py", "__init__"] == 0


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ["cc", "rt"])
def test_a_miss_asks_its_authority_for_its_metadata_once(
    emulator: Emulator, api: str, case: str
) -> None:
    """The known metadata gives the realm of the lookup and the endpoint of the request:
    asked once (not the expected realm, which asks it again)."""
    calls, _ = _counted_miss(emulator, api, case)
    lane = calls["_hit_memo.py", "_request_prefix"]  # (the lane's, for its key, if it has none)
    assert calls["_authority.py", "known_metadata"] == 1 + lane
    assert calls["_authority.py", "expected_realm"] == 0


@pytest.mark.parametrize("api", APIS)
def test_a_one_scope_app_token_request_sorts_nothing_for_the_wire_or_the_index(
    emulator: Emulator, api: str
) -> None:
    """The wire's scope text of one scope is that scope, and the exact-request index files
    a one-scope token under its scope as it is: nothing sorted for either."""
    calls, _ = _counted_miss(emulator, api, "cc", builtin_calls)
    assert calls["_scopes.py", "sorted"] == 0
    assert calls["_exact.py", "sorted"] == 0
    from identitylib._protocol._scopes import to_wire

    assert to_wire(["b"]) == "b"
    assert to_wire(["b", "a", "b"]) == "a b"
    assert to_wire(("b",)) == "b"


#: The exact-request lookup each case's cache lane makes.
LOOKUPS = {"cc": "app_token", "rt": "account_token", "obo": "assertion_token"}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_lane_miss_is_noted_in_the_memo_not_in_a_context_variable(
    emulator: Emulator, api: str, case: str
) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_hit_memo.py", LOOKUPS[case]] == 1  # the lane's; the builder skips it
    assert calls["_hit_memo.py", "lane_missed"] == 1
    assert calls["_measured.py", "lane_missed"] == 0  # (no context variable set per call)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_builder_reads_whether_its_memo_answers_without_a_property_frame(
    emulator: Emulator, api: str, case: str
) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_core.py", "remembered"] == 1
    assert calls["_hit_memo.py", "enabled"] == 0
    assert calls["_hit_memo.py", "get"] == 0  # (nothing remembered: not asked)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ["cc", "rt"])
def test_a_call_without_claims_makes_its_claims_once(
    emulator: Emulator, api: str, case: str
) -> None:
    """Neither a challenge nor forwarded claims: nothing the builder could refuse before
    I/O (the app's capabilities were checked when it was made), the flow's claims alone."""
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_state.py", "claims"] == 1


@pytest.mark.parametrize("api", APIS)
def test_an_app_token_is_stored_with_its_event_made_in_the_writers_frame(
    emulator: Emulator, api: str
) -> None:
    calls, _ = _counted_miss(emulator, api, "cc")
    assert calls["client_credentials.py", "_stored"] == 1
    assert calls["client_credentials.py", "_app_token_event"] == 0
    assert calls["_shaping.py", "cache_event"] == 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ["cc", "rt"])
def test_a_miss_with_nothing_cached_asks_nothing_to_serve_it(
    emulator: Emulator, api: str, case: str
) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_shaping.py", "serve_cached"] == 0


@pytest.mark.parametrize("api", APIS)
def test_a_refresh_calls_logging_only_when_it_would_log(
    emulator: Emulator, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    within = partial(python_calls, qualified=True, within="refresh_for_account")
    with caplog.at_level("INFO", logger="identitylib"):  # (whatever an earlier test set)
        calls, _ = _counted_miss(emulator, api, "rt", within)
    assert calls["silent.py", "refresh_for_account"] >= 1
    assert calls["__init__.py", "Logger.debug"] == 0
    with caplog.at_level("DEBUG", logger="identitylib"):
        _counted_miss(emulator, api, "rt")
    assert "Refreshing with a cached family refresh token" in caplog.text


@pytest.mark.parametrize("api", APIS)
def test_a_refresh_sends_its_hidden_candidates_secret_without_hiding_it_again(
    emulator: Emulator, api: str
) -> None:
    """The refresh token a silent refresh redeems is its hidden candidate's secret, a
    ``Secret`` already: the grant's fields take it as it is (no call of ``hide``)."""
    calls, result = _counted_miss(emulator, api, "rt")
    assert calls["_log.py", "hide"] == 0
    assert calls["_log.py", "hide_secrets"] >= 1  # (the candidates: hidden there)
    assert "access_token" in result


@pytest.mark.parametrize("api", APIS)
def test_a_silent_builder_reads_the_lane_and_the_memo_in_its_own_frame(
    emulator: Emulator, api: str
) -> None:
    """From the public method to the flow, a plain silent miss runs two frames of the
    builder (the public one and ``_silent``; the flow's maker besides): the lane's miss
    and the same-call memo are read in ``_silent`` itself."""
    calls, _ = _counted_miss(emulator, api, "rt")
    builder = {name: count for name, count in calls.items() if name[0] == "_accounts.py"}
    assert builder == {
        ("_accounts.py", "acquire_token_silent"): 1,
        ("_accounts.py", "_silent"): 1,
        ("_accounts.py", "make_flow"): 1,
        ("_accounts.py", "_token_or_none"): 1,
    }, builder


@pytest.mark.parametrize("api", APIS)
def test_a_refresh_token_is_redeemed_without_a_generator_of_its_own(
    emulator: Emulator, api: str
) -> None:
    """Redeeming the cached RT (identitylib's cache replaces it itself) is the redemption's
    flow as it is: run once to build the request, no generator resumed around it."""
    calls, _ = _counted_miss(emulator, api, "rt")
    assert calls["refresh_token.py", "redeem_refresh_token"] == 1
    assert calls["refresh_token.py", "_rotated_in_foreign_cache"] == 0
    assert calls["_user_tokens.py", "redeem"] == 2  # its first step, then the answer


def test_a_flow_makes_its_cache_query_and_event_as_one_dict_each() -> None:
    """The query is the flow's own literal, completed in place (no keyword dict, no copy);
    the event takes its extra keys as a mapping (no keyword dict) and holds the response."""
    from identitylib._authority import Authority, TrustKey, parse_authority
    from identitylib._flows._shaping import cache_event
    from identitylib._flows._state import AppState
    from identitylib._flows._token_query import access_token_query

    query = {"client_id": "c", "environment": "e", "realm": "r", "home_account_id": None}
    assert access_token_query(query, {}, "") is query
    assert access_token_query(query, {"key_id": "k"}, "x") is query
    assert list(query)[-2:] == ["key_id", "ext_cache_key"]
    authority = Authority(parse_authority("https://login.example.com/tenant"), trust=TrustKey.of())
    state = AppState("c", authority, None)
    body = {"access_token": "at"}
    event = cache_event(state, ["s"], "https://e/t", "g", body, {"scope": "s"}, {"k": 1})
    assert event["response"] is body
    assert event["k"] == 1
    assert event["data"] == {"scope": "s"}
    assert event["environment"] == "login.example.com"


def test_scopes_are_validated_with_one_strip_each() -> None:
    from identitylib._protocol._scopes import validate_scopes

    stripped: list[str] = []

    class Scope(str):
        def strip(self, chars: Any = None) -> str:
            stripped.append(str(self))
            return str.strip(self, chars)

    assert validate_scopes([Scope(" a "), Scope("b")]) == ["a", "b"]
    assert stripped == [" a ", "b"]


def test_a_body_is_decoded_as_json_loads_decodes_it() -> None:
    """The scanner alone reads a body that is one value; anything else goes through the
    decoder, with the same value as ``json.loads``, or, where it raises, "not JSON"."""
    import json

    from identitylib._protocol._messages import HttpResponse
    from identitylib._protocol._token_response import parse_json_object

    for text in ('{"a": 1}', ' {"a": 1} ', '{"a": [1, {"b": null}]}\n', '{"a": NaN}'):
        assert parse_json_object(HttpResponse(200, text), "x") == json.loads(text)
    for text in ("[1]", '"x"', "NaN", " 2 "):
        assert parse_json_object(HttpResponse(200, text), "x") == (
            "the x answered HTTP 200 with JSON that is not an object"
        )
    for text in ('{"a": 1} x', "", "\ufeff{}", '{"a": }', '{"a": "b', "{} {}", "[" * 100_000):
        with pytest.raises((json.JSONDecodeError, RecursionError)):
            json.loads(text)
        problem = parse_json_object(HttpResponse(200, text), "x")
        assert problem == (
            "the x answered HTTP 200 with a body that is not JSON (unknown content type)"
        )


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_token_response_is_decoded_in_the_parsers_own_frame(
    emulator: Emulator, api: str, case: str
) -> None:
    """The body's JSON is read in ``parse_json_object``'s frame: no decoding helper's."""
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_token_response.py", "parse_json_object"] == 1
    assert calls["_token_response.py", "decode_json"] == 0


def test_what_a_request_asks_of_its_authority_is_told_once() -> None:
    """The cache environment and whether the issuer is a generic OIDC one: read by every
    request (a refresh asks the latter), made once per authority."""
    from functools import cached_property

    from identitylib._authority import Authority

    for name in ("environment", "is_oidc", "cache_environments"):
        assert isinstance(Authority.__dict__[name], cached_property), name


def test_the_blocking_shell_hands_a_flow_its_background_refresh_as_one_object(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a confidential app's flow may call to refresh in the background is one
    partial of the shell's ``_start_refresh`` (no closure, nor bound methods, per call);
    the asyncio API schedules its refresh on its loop instead."""
    from functools import partial

    from identitylib._application._base import Runner
    from identitylib._flows import client_credentials

    handed: list[Any] = []
    real = client_credentials.acquire_token_for_client

    def flow(*args: Any, **kwargs: Any) -> Any:
        handed.append(kwargs["defer_refresh"])
        return real(*args, **kwargs)

    monkeypatch.setattr(client_credentials, "acquire_token_for_client", flow)
    app = daemon(emulator, "sync", identitylib.TokenCache())()
    assert app.acquire_token_for_client(APP_SCOPES)["token_source"] == "identity_provider"
    (defer,) = handed
    assert isinstance(defer, partial)
    assert defer.func is Runner._start_refresh
    assert defer.args[0] is app


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_grant_writes_its_own_fields_in_one_step(emulator: Emulator, api: str, case: str) -> None:
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_request.py", "grant_fields"] == 1
    assert calls["_request.py", "form_fields"] == 0  # (no data=: nothing to check field by field)


def test_grant_fields_are_the_form_fields_of_the_same_parts() -> None:
    from identitylib._log import Secret, hide
    from identitylib._protocol._request import form_fields, grant_fields

    grant = {"grant_type": "g", "client_id": "c", "refresh_token": hide("rt"), "claims": None}
    for extra in (None, {}, {"key_id": "k", "grant_type": "other"}, {"x": ""}):
        for auth in ({}, {"client_secret": "s"}, {"client_secret": hide("s"), "client_id": ""}):
            made = grant_fields(extra, grant, auth)
            assert made == form_fields(extra, grant, auth)
            assert list(made) == list(form_fields(extra, grant, auth))
            for name in ("refresh_token", "client_secret"):
                assert name not in made or type(made[name]) is Secret


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ["rt", "obo"])
def test_a_user_flow_checks_its_scopes_and_hides_entries_once(
    emulator: Emulator, api: str, case: str
) -> None:
    """The builder rejects reserved scopes (a silent call's: the cache lane's lookup found
    none, see the next test), the flow's decoration trusts it; a cached refresh token's
    secret is hidden without a comprehension over its plain fields."""
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_scopes.py", "reject_reserved"] == (0 if case == "rt" else 1)
    assert calls["_log.py", "<dictcomp>"] == 0


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ["cc", "rt"])
def test_a_lane_miss_hands_the_builder_the_scopes_it_found_valid(
    emulator: Emulator, api: str, case: str
) -> None:
    """The cache lane's lookup found the scopes as ``validate_scopes`` keeps them (and a
    silent call's none reserved): the builder takes its copy and checks them no more."""
    calls, _ = _counted_miss(emulator, api, case)
    assert calls["_scopes.py", "validate_scopes"] == 0
    assert calls["_scopes.py", "reject_reserved"] == 0
    assert calls["_client_calls.py", "_client_scopes"] == 0
    assert calls["_hit_memo.py", "_validated"] == 1


@pytest.mark.parametrize("api", APIS)
def test_a_lane_hit_makes_nothing_for_a_builder(emulator: Emulator, api: str) -> None:
    """The scopes' copy a builder takes after a lane's miss is made on a miss only: a hit
    answered by the lane (an app token, a user's token) checks and copies nothing for it."""
    app = daemon(emulator, api, identitylib.TokenCache())()
    scopes = list(APP_SCOPES)
    assert "access_token" in call_on(api, app, "acquire_token_for_client", scopes)
    calls = python_calls(partial(call_on, api, app, "acquire_token_for_client", scopes))
    assert calls["_lanes.py", "client_lane"] == 1
    assert calls["_hit_memo.py", "_validated"] == 0
    cache = identitylib.TokenCache()
    account = sign_in(emulator, "sync", cache)
    user_app = public_client(emulator, api, cache)()
    scopes = list(USER_SCOPES)
    assert call_on(api, user_app, "acquire_token_silent", scopes, account)
    calls = python_calls(partial(call_on, api, user_app, "acquire_token_silent", scopes, account))
    assert calls["_lanes.py", "silent_lane"] == 1
    assert calls["_hit_memo.py", "_validated"] == 0


@pytest.mark.parametrize("api", APIS)
def test_scopes_an_app_token_lookup_took_are_checked_again_for_a_silent_call(
    emulator: Emulator, api: str
) -> None:
    """A confidential app's app-token lookup takes a reserved scope; the same list then
    given to its silent call is refused by the builder (the lane's note of the scopes,
    made for app tokens, says nothing of reserved ones)."""
    app = daemon(emulator, api, identitylib.TokenCache())()
    scopes = ["openid"]
    call_on(api, app, "acquire_token_for_client", scopes)  # (whatever the answer)
    account = {"home_account_id": "uid.utid", "environment": "login.microsoftonline.com"}
    with pytest.raises(ValueError, match="reserved"):
        call_on(api, app, "acquire_token_silent", scopes, account)


@pytest.mark.parametrize("api", APIS)
def test_a_list_changed_since_the_lanes_note_is_validated_by_the_builder(
    emulator: Emulator, api: str
) -> None:
    """The lane noted a list's scopes on a miss; the same list, changed, then misses before
    the lane's lookup notes anything (its text is not one a lookup takes): the builder
    validates what the list holds now, not the note."""
    app = daemon(emulator, api, identitylib.TokenCache())()
    (scope,) = APP_SCOPES
    scopes = ["api://other/.default"]
    call_on(api, app, "acquire_token_for_client", scopes)  # (a miss: noted)
    scopes[:] = [scope, ""]
    calls = python_calls(partial(call_on, api, app, "acquire_token_for_client", scopes))
    assert calls["_scopes.py", "validate_scopes"] == 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("fmi_path", [False, 0, []])
def test_a_falsy_fmi_path_that_is_no_string_is_refused_after_a_lane_miss(
    emulator: Emulator, api: str, fmi_path: Any
) -> None:
    """The lane takes a call whose ``fmi_path`` is falsy (it names no path) and misses;
    the builder, taking the lane's scopes, still refuses an ``fmi_path`` that is not a
    string, as it does for any call."""
    app = daemon(emulator, api, identitylib.TokenCache())()
    with pytest.raises(ValueError, match="fmi_path must be a string"):
        call_on(api, app, "acquire_token_for_client", list(APP_SCOPES), None, fmi_path)


@pytest.mark.parametrize("api", APIS)
def test_scopes_the_lane_cannot_take_as_they_are_are_validated_by_the_builder(
    emulator: Emulator, api: str
) -> None:
    """Scopes whose lookup text is valid but which ``validate_scopes`` changes (padded,
    an empty one beside) or refuses (a reserved one, in a silent call) are still
    validated by the builder, also when the same list was valid in an earlier call."""
    app = daemon(emulator, api, identitylib.TokenCache())()
    (scope,) = APP_SCOPES
    for scopes in ([f" {scope} "], [scope, ""]):
        calls = python_calls(
            partial(call_on, api, app, "acquire_token_for_client", scopes)  # (this one)
        )
        assert calls["_scopes.py", "validate_scopes"] == 1, scopes
    result = call_on(api, app, "acquire_token_for_client", [f" {scope} "])
    assert result["token_source"] == "cache", result  # (the stripped scope's token)
    cache = identitylib.TokenCache()
    account = sign_in(emulator, "sync", cache)
    user_app = public_client(emulator, api, cache)()
    scopes = list(USER_SCOPES)
    assert call_on(api, user_app, "acquire_token_silent", scopes, account)
    scopes.append("openid")  # (the same list, now with a reserved scope)
    with pytest.raises(ValueError, match="reserved"):
        call_on(api, user_app, "acquire_token_silent", scopes, account)


def test_secrets_are_hidden_whatever_their_letter_case() -> None:
    from identitylib._log import Secret, hide_secrets

    entry = {"secret": "s", "Refresh_Token": "r", "target": "t", 1: "x", "CLIENT_ID": "c"}
    hidden = hide_secrets(entry)
    assert hidden == entry
    assert hidden is not entry
    assert list(hidden) == list(entry)
    assert {k for k, v in hidden.items() if type(v) is Secret} == {"secret", "Refresh_Token"}


@pytest.mark.parametrize("api", APIS)
def test_the_used_refresh_token_is_the_flows_hidden_copy_not_copied_again(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """The candidate a silent refresh redeems is its own copy already (its secret
    hidden): ``canonical_refresh_token`` returns it as it is, and the cache event holds
    that copy itself, not a copy of it."""
    from identitylib._cache import USED_REFRESH_TOKEN, TokenCache
    from identitylib._flows import silent

    hidden: list[dict[str, Any]] = []
    made: list[dict[str, Any]] = []
    events: list[Any] = []
    real_hide, real_canonical = silent.hide_secrets, silent.canonical_refresh_token
    real_add = TokenCache.add

    def hide(*args: Any) -> Any:
        hidden.append(real_hide(*args))
        return hidden[-1]

    def canonical(*args: Any) -> Any:
        made.append(real_canonical(*args))
        return made[-1]

    def add(self: TokenCache, event: Any, now: Any = None) -> None:
        events.append(event)
        real_add(self, event, now)

    monkeypatch.setattr(silent, "hide_secrets", hide)
    monkeypatch.setattr(silent, "canonical_refresh_token", canonical)
    monkeypatch.setattr(TokenCache, "add", add)
    _counted_miss(emulator, api, "rt")
    used = events[-1][USED_REFRESH_TOKEN]
    assert used is made[-1]
    assert any(used is copy for copy in hidden), used.keys()


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_plan_sets_its_fields_as_slots(emulator: Emulator, api: str, case: str) -> None:
    """A miss's plan (a :class:`Call`) sets its three fields as slots in its own frame:
    no ``object.__setattr__`` of a ``__dict__`` (a frozen dataclass's way), no dict made."""
    calls, _ = _counted_miss(emulator, api, case, builtin_calls)
    assert calls["_plan.py", "object.__setattr__"] == 0
    from identitylib._application._plan import Call

    plan = Call(lambda _defer: iter(()), key="k")
    assert not hasattr(plan, "__dict__")
    assert (plan.key, plan.finish(1)) == ("k", 1)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES)
def test_a_request_and_its_answer_set_their_fields_as_slots(
    emulator: Emulator, api: str, case: str
) -> None:
    """The token request and its response set their fields as slots in their own frame
    (no ``object.__setattr__``, no ``__dict__``); still dataclasses to compare and show
    (secrets hidden)."""
    calls, _ = _counted_miss(emulator, api, case, builtin_calls)
    assert calls["_messages.py", "object.__setattr__"] == 0
    from identitylib._protocol._messages import HttpRequest, HttpResponse

    request = HttpRequest("POST", "https://x/token", None, {"client_secret": "s3cret"})
    response = HttpResponse(200, "{}")
    assert not hasattr(request, "__dict__")
    assert not hasattr(response, "__dict__")
    assert request == HttpRequest("POST", "https://x/token", None, {"client_secret": "s3cret"})
    assert request.headers == {}
    assert response.headers == {}
    assert "s3cret" not in repr(request)


@pytest.mark.parametrize("case", CASES)
def test_a_lone_miss_joins_and_leaves_its_flight_without_a_lock(
    emulator: Emulator, case: str
) -> None:
    """A miss nobody else asks for leads its flight without taking the flights' lock (a
    dict step to join, one to leave). The blocking API only: the asyncio API shares a
    task on its loop instead, without a SingleFlight."""
    calls, _ = _counted_miss(emulator, "sync", case, builtin_calls)
    assert calls["_single_flight.py", "dict.setdefault"] == 1
    assert calls["_single_flight.py", "lock.__exit__"] == 0


@pytest.mark.parametrize("api", APIS)
def test_a_refresh_sorts_its_decorated_scopes_once_for_the_wire(
    emulator: Emulator, api: str
) -> None:
    """The decorated scopes of a user flow are in wire order already: the refresh's scope
    text joins them as they are (one sort, the decoration's), and says the same as
    before for any other input."""
    calls, _ = _counted_miss(emulator, api, "rt", builtin_calls)
    sorts = [name for (file, name) in calls.elements() if file == "_scopes.py"]
    assert [name for name in sorts if name.endswith(("sorted", "sort"))] == [
        "WireOrdered.sort"
    ]  # (two sorts, ``sorted``, before: the decoration's and the wire's)
    from identitylib._protocol._scopes import decorate, to_wire

    assert to_wire(decorate(["b", "a", "b"])) == "a b offline_access openid profile"
    assert to_wire(decorate(["b"], ["openid", "profile", "offline_access"])) == "b"
    assert to_wire(["c", "a", "c"]) == "a c"
    assert to_wire({"b", "a"}) == "a b"
