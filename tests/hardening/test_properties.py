"""Property-based tests: every parser answers any input with a result or a documented error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identitylib import SerializableTokenCache
from identitylib._authority import parse_authority
from identitylib._authority._metadata import parse_discovery_response
from identitylib._protocol._challenge import parse_claims_challenge, parse_www_authenticate
from identitylib._protocol._errors import FlowError
from identitylib._protocol._jwt import b64url_encode, decode_client_info, decode_jwt_claims
from identitylib._protocol._messages import HttpResponse
from identitylib._protocol._token_response import MAX_LIFETIME, parse_token_response
from identitylib._transport._policy import RetryPolicy, parse_retry_after
from identitylib.exceptions import TokenCacheError

# No example database: parallel test workers would share its files in the working tree.
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
TOKEN_FIELDS = [
    "access_token",
    "refresh_token",
    "id_token",
    "token_type",
    "expires_in",
    "ext_expires_in",
    "refresh_in",
    "scope",
    "client_info",
    "foci",
    "error",
    "error_description",
]
token_like = st.dictionaries(st.sampled_from(TOKEN_FIELDS), json_values, max_size=8)
statuses = st.sampled_from([200, 201, 204, 301, 302, 307, 400, 401, 403, 404, 429, 500, 503, 0])
bodies = (
    st.text(max_size=200)
    | json_values.map(json.dumps)
    | token_like.map(json.dumps)
    | st.binary(max_size=100).map(lambda b: b.decode("latin-1"))
)
header_maps = st.dictionaries(
    st.sampled_from(["content-type", "retry-after", "location", "x-other"]),
    st.text(max_size=30),
    max_size=3,
)


@SETTINGS
@given(status=statuses, text=bodies, headers=header_maps)
def test_parse_token_response_never_raises(status: int, text: str, headers: dict[str, str]) -> None:
    result = parse_token_response(HttpResponse(status, text, headers))
    assert isinstance(result, dict)
    if "error" in result:
        assert isinstance(result["error"], str)
        assert result["error"]
        assert isinstance(result["error_description"], str)
    else:
        assert 200 <= status < 300
        assert isinstance(result.get("access_token") or result.get("id_token"), str)
        if result.get("access_token"):
            assert isinstance(result["expires_in"], int)
            assert 0 <= result["expires_in"] <= MAX_LIFETIME
            assert 0 <= result["ext_expires_in"] <= MAX_LIFETIME
        assert isinstance(result["token_type"], str)


@SETTINGS
@given(body=token_like)
def test_successful_shapes_are_normalised_or_refused(body: dict[str, Any]) -> None:
    body.setdefault("access_token", "at")
    result = parse_token_response(HttpResponse(200, json.dumps(body)))
    if "error" not in result:
        assert 0 <= result["expires_in"] <= MAX_LIFETIME
        if "refresh_in" in result:
            assert 0 <= result["refresh_in"] < result["expires_in"]


AUTHORITY = parse_authority("https://login.microsoftonline.com/contoso.example")
OIDC = parse_authority(None, oidc_authority="https://issuer.example/tenant")
ENDPOINTS = [
    "issuer",
    "token_endpoint",
    "authorization_endpoint",
    "device_authorization_endpoint",
    "end_session_endpoint",
    "jwks_uri",
]
urls = st.sampled_from(
    [
        "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token",
        "https://issuer.example/tenant",
        "https://evil.example/token",
        "http://evil.example/x",
        "javascript:alert(1)",
        "https://[::1",
        "",
        "https://issuer.example:99999/x",
    ]
) | st.text(max_size=40)
discovery_docs = st.dictionaries(st.sampled_from(ENDPOINTS), urls | json_values, max_size=6)


def _discover(authority: Any, response: HttpResponse) -> Any:
    """Metadata, or the ``error`` of the FlowError raised (the only exception allowed)."""
    try:
        return parse_discovery_response(authority, response)
    except FlowError as failure:
        return str(failure.result["error"])


@SETTINGS
@given(doc=discovery_docs, status=statuses, raw=st.booleans(), text=st.text(max_size=50))
def test_discovery_parsing_raises_only_flow_errors(
    doc: dict[str, Any], status: int, raw: bool, text: str
) -> None:
    for authority in (AUTHORITY, OIDC):
        response = HttpResponse(status, text if raw else json.dumps(doc))
        metadata = _discover(authority, response)
        if isinstance(metadata, str):
            assert metadata  # an error result with an error code
            continue
        assert metadata.token_endpoint.startswith("https://")
        if authority is AUTHORITY:
            for endpoint in (metadata.token_endpoint, metadata.authorization_endpoint):
                assert endpoint is None or endpoint.startswith("https://login.microsoftonline.com/")


segments = st.text(max_size=30) | json_values.map(lambda v: b64url_encode(json.dumps(v).encode()))


@SETTINGS
@given(parts=st.lists(segments, min_size=0, max_size=5), anything=json_values)
def test_jwt_decoding_raises_only_value_error(parts: list[str], anything: Any) -> None:
    for candidate in (".".join(parts), anything):
        try:
            claims = decode_jwt_claims(candidate)
        except ValueError:
            pass
        else:
            assert isinstance(claims, dict)
        try:
            info = decode_client_info(candidate)
        except ValueError:
            pass
        else:
            assert isinstance(info, dict)


challenge_text = st.text(
    alphabet=st.sampled_from(list('Bearer claims="=,; \\abcXYZ09+/_-\t')) | st.characters(),
    max_size=120,
)


@SETTINGS
@given(header=challenge_text)
def test_www_authenticate_parsing_never_raises(header: str) -> None:
    challenges = parse_www_authenticate(header)
    assert isinstance(challenges, list)
    claims = parse_claims_challenge(header)
    assert claims is None or isinstance(claims, str)


@SETTINGS
@given(
    state=json_values.map(json.dumps)
    | st.text(max_size=100)
    | st.binary(max_size=50)
    | st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n + "]" * n)
    | st.integers(min_value=1, max_value=5000).map(lambda n: '{"a":' * n + "1" + "}" * n)
)
def test_cache_deserialize_raises_only_token_cache_error(state: Any) -> None:
    cache = SerializableTokenCache()
    before = cache.serialize()
    try:
        cache.deserialize(state)
    except TokenCacheError:
        assert cache.serialize() == before  # the cache keeps its content and stays usable
    cache.add(
        {
            "client_id": "c",
            "scope": ["s"],
            "token_endpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            "response": {"access_token": "a", "expires_in": 60, "token_type": "Bearer"},
        }
    )
    assert json.loads(cache.serialize())


@SETTINGS
@given(
    value=st.none() | st.text(max_size=40) | st.integers().map(str) | st.floats().map(str),
    status=st.integers(min_value=100, max_value=599),
    attempt=st.integers(min_value=1, max_value=5),
    method=st.sampled_from(["GET", "POST", "PUT"]),
)
def test_retry_policy_is_bounded(value: Any, status: int, attempt: int, method: str) -> None:
    seconds = parse_retry_after(value, now=1_700_000_000.0)
    assert seconds is None or seconds >= 0
    policy = RetryPolicy()
    decision = policy.after_response(
        method, status, {"Retry-After": value} if value else {}, attempt, now=1_700_000_000.0
    )
    if decision.retry:
        assert attempt <= policy.retries
        assert 0 <= decision.wait <= max(policy.max_retry_after, policy.backoff * 2**attempt * 2)
        assert status == 429 or status >= 500


ID_CLAIMS = ["aud", "iss", "exp", "nbf", "iat", "nonce", "tid", "oid", "sub", "preferred_username"]


@SETTINGS
@given(
    claims=st.dictionaries(st.sampled_from(ID_CLAIMS), json_values, max_size=8),
    issuer=st.none()
    | st.sampled_from(
        ["https://login.microsoftonline.com/{tenantid}/v2.0", "https://issuer.example/tenant"]
    ),
    nonce=st.none() | st.text(max_size=10),
)
def test_id_token_checks_never_raise(claims: dict[str, Any], issuer: Any, nonce: Any) -> None:
    from identitylib._protocol._id_token import check_id_token

    problem = check_id_token(
        claims, client_id="client", now=1_700_000_000.0, issuer=issuer, nonce=nonce
    )
    assert problem is None or isinstance(problem, str)
    if problem is None:
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            assert value is None or value == value  # never NaN
