"""Claims challenges: parsing WWW-Authenticate headers (real CAE / Conditional Access
samples and hostile input), building them, and every acquire method accepting
``claims_challenge`` and bypassing cached access tokens."""

from __future__ import annotations

import base64
import inspect
import json
import random

import pytest
import responses

from identitylib import ConfidentialClientApplication, PublicClientApplication
from identitylib._protocol._challenge import (
    MAX_HEADER,
    claims_challenge_header,
    decode_claims,
    parse_claims_challenge,
    parse_www_authenticate,
)

from .conftest import CLIENT_ID, TENANT, add_discovery
from .test_client_credentials import body_of, token_json
from .test_silent_support import public_app, ropc_sign_in, token_posts, user_token

AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
# Wire formats §12.1: an auth-context step-up and a CAE revocation (nbf), verbatim.
STEP_UP = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3Nl'
    'bnRpYWwiOnRydWUsInZhbHVlIjoiY3AxIn19fQ=="'
)
STEP_UP_CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"cp1"}}}'
CAE_NBF = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2Vu'
    'dGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTcwMjY4MjE4MSJ9fX0="'
)
CAE_NBF_CLAIMS = '{"access_token":{"nbf":{"essential":true, "value":"1702682181"}}}'
# Azure Resource Manager's CAE revocation: error="invalid_token", still a claims challenge.
ARM = (
    'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
    'error_description="User session has been revoked", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJm'
    'Ijp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwMzc0MjgwMCJ9fX0="'
)
KEY_VAULT = (
    'Bearer authorization="https://login.windows.net/72f988bf", resource="https://vault.azure.net"'
)


def b64(text: str, *, urlsafe: bool = False, pad: bool = True) -> str:
    raw = text.encode()
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return encoded if pad else encoded.rstrip("=")


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (STEP_UP, STEP_UP_CLAIMS),
        (CAE_NBF, CAE_NBF_CLAIMS),
        (ARM, '{"access_token":{"nbf":{"essential":true, "value":"1603742800"}}}'),
        # Several challenges in one value (several headers joined by a comma).
        (f"{KEY_VAULT}, {STEP_UP}", STEP_UP_CLAIMS),
        (f'Basic realm="x", {CAE_NBF}, PoP nonce="abc"', CAE_NBF_CLAIMS),
        (f"Negotiate, {STEP_UP}", STEP_UP_CLAIMS),
        # The header name included, parameter order, case and spacing free.
        (f"WWW-Authenticate: {STEP_UP}", STEP_UP_CLAIMS),
        (
            f'bearer  CLAIMS = "{b64(STEP_UP_CLAIMS)}" ,ERROR="insufficient_claims",realm=""',
            STEP_UP_CLAIMS,
        ),
        # Unpadded, URL-safe, unquoted, plain JSON.
        (f'Bearer claims="{b64(STEP_UP_CLAIMS, pad=False)}"', STEP_UP_CLAIMS),
        (f'Bearer claims="{b64(STEP_UP_CLAIMS, urlsafe=True)}"', STEP_UP_CLAIMS),
        (f"Bearer error=insufficient_claims, claims={b64(STEP_UP_CLAIMS)}", STEP_UP_CLAIMS),
        (
            'Bearer claims="{\\"access_token\\":{\\"acrs\\":{\\"essential\\":true}}}"',
            '{"access_token":{"acrs":{"essential":true}}}',
        ),
        # PoP challenges carry claims too.
        (f'PoP nonce="n", claims="{b64(STEP_UP_CLAIMS)}"', STEP_UP_CLAIMS),
    ],
)
def test_claims_are_found(header: str, expected: str) -> None:
    assert parse_claims_challenge(header) == expected


def test_insufficient_claims_wins_over_another_challenge() -> None:
    other = '{"access_token":{"nbf":{"essential":true,"value":"1"}}}'
    header = (
        f'Bearer error="invalid_token", claims="{b64(other)}", '
        f'Bearer error="insufficient_claims", claims="{b64(STEP_UP_CLAIMS)}"'
    )
    assert parse_claims_challenge(header) == STEP_UP_CLAIMS
    broken_first = f'Bearer claims="!!!", {STEP_UP}'
    assert parse_claims_challenge(broken_first) == STEP_UP_CLAIMS


def test_parameters_are_parsed_per_challenge() -> None:
    (vault, bearer) = parse_www_authenticate(f"{KEY_VAULT}, {STEP_UP}")
    assert vault.scheme == "Bearer"
    assert vault.params == {
        "authorization": "https://login.windows.net/72f988bf",
        "resource": "https://vault.azure.net",
    }
    assert bearer.params["error"] == "insufficient_claims"
    assert bearer.params["realm"] == ""
    (basic,) = parse_www_authenticate("Basic dXNlcjpwYXNz==")
    assert (basic.scheme, basic.token68) == ("Basic", "dXNlcjpwYXNz==")
    (quoted,) = parse_www_authenticate('Bearer realm="a \\"b\\", c", error="x"')
    assert quoted.params == {"realm": 'a "b", c', "error": "x"}


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        'Bearer realm="", error="invalid_token"',
        KEY_VAULT,
        'Bearer claims=""',
        'Bearer claims="not base64 !!!"',
        f'Bearer claims="{b64("[1, 2]")}"',  # JSON, not an object
        f'Bearer claims="{b64("{}")}"',  # an empty object
        f'Bearer claims="{b64("null")}"',
        f'Bearer claims="{b64("{not json")}"',
        'Bearer claims="' + base64.b64encode(b"\xff\xfe\x00garbage").decode() + '"',
        'Bearer claims="eyJhY2Nlc3NfdG9rZW4iOnsi',  # unterminated, truncated base64
        'Bearer claims="{"',
        "=====",
        ",,,,, ,",
        '"""""',
        "\x00\x01\x02",
        "Bearer claims",
        "claims",
        f'Bearer claims="{b64("[" * 100_000)}"'[:MAX_HEADER],
    ],
)
def test_no_claims_challenge_means_none(header: str) -> None:
    assert parse_claims_challenge(header) is None


@pytest.mark.parametrize("value", [None, b"Bearer claims=x", 5, ["Bearer"], {"a": 1}])
def test_non_strings_mean_none(value: object) -> None:
    assert parse_claims_challenge(value) is None  # type: ignore[arg-type]


def test_deep_nesting_and_huge_headers_mean_none() -> None:
    """No RecursionError, no error at all: hostile headers are refused (their cost is bench's)."""
    deep = '{"a":' * 50_000 + "1" + "}" * 50_000
    assert parse_claims_challenge(f'Bearer claims="{b64(deep)}"') is None
    assert parse_claims_challenge("Bearer " + "x" * (10 * MAX_HEADER)) is None
    assert parse_claims_challenge('Bearer a="' + "\\" * 60_000) is None
    assert parse_claims_challenge("a=b, " * 12_000) is None


def test_random_input_never_raises() -> None:
    rng = random.Random(1234)
    alphabet = 'Bearer claims=",\\ \t=abc{}[]:eyJ+/_-' + "\x00\xff"
    for _ in range(3000):
        size = rng.randint(0, 200)
        header = "".join(rng.choice(alphabet) for _ in range(size))
        result = parse_claims_challenge(header)
        assert result is None or isinstance(json.loads(result), dict)


def test_decode_claims_variants() -> None:
    assert decode_claims(b64(STEP_UP_CLAIMS)) == STEP_UP_CLAIMS
    assert decode_claims(" " + STEP_UP_CLAIMS + " ") == STEP_UP_CLAIMS
    assert decode_claims(b64("\ufeff" + STEP_UP_CLAIMS)) == STEP_UP_CLAIMS
    split = b64(STEP_UP_CLAIMS)
    assert decode_claims(split[:10] + "\n " + split[10:]) == STEP_UP_CLAIMS
    assert decode_claims(None) is None  # type: ignore[arg-type]


# ---------------------------------------------------------------- building


def test_header_round_trip() -> None:
    header = claims_challenge_header(
        STEP_UP_CLAIMS,
        authorization_uri=f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize",
    )
    assert header.startswith('Bearer realm="", authorization_uri="https://')
    assert 'error="insufficient_claims"' in header
    assert f'claims="{base64.b64encode(STEP_UP_CLAIMS.encode()).decode()}"' in header
    assert parse_claims_challenge(header) == STEP_UP_CLAIMS
    (challenge,) = parse_www_authenticate(header)
    assert challenge.params["authorization_uri"].endswith("/authorize")


@pytest.mark.parametrize("bad", ["", "[]", "{}", "not json", "eyJhIjoxfQ=="])
def test_header_needs_a_json_object(bad: str) -> None:
    with pytest.raises(ValueError, match="claims"):
        claims_challenge_header(bad)


# ---------------------------------------------------------------- acquire methods


def _accepts_claims_challenge(method: object) -> bool:
    parameters = inspect.signature(method).parameters  # type: ignore[arg-type]
    return "claims_challenge" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


@pytest.mark.parametrize("cls", [PublicClientApplication, ConfidentialClientApplication])
def test_every_acquire_method_accepts_a_claims_challenge(cls: type) -> None:
    names = [n for n in dir(cls) if n.startswith(("acquire_token", "initiate_"))]
    assert names
    for name in names:
        assert _accepts_claims_challenge(getattr(cls, name)), name


def test_client_credentials_bypass_the_cache(http: responses.RequestsMock) -> None:
    endpoint = add_discovery(http)
    http.post(endpoint, json=token_json("at-1"))
    app = ConfidentialClientApplication(
        CLIENT_ID, "s", authority=AUTHORITY, client_capabilities=["CP1"]
    )
    app.acquire_token_for_client(["api://x/.default"])
    http.upsert(responses.POST, endpoint, json=token_json("at-2"))
    result = app.acquire_token_for_client(["api://x/.default"], claims_challenge=CAE_NBF_CLAIMS)
    assert result["access_token"] == "at-2"
    claims = json.loads(body_of(http.calls[-1])["claims"])
    assert claims["access_token"]["xms_cc"] == {"values": ["CP1"]}
    assert claims["access_token"]["nbf"]["value"] == "1702682181"


def test_silent_bypasses_the_cached_access_token(http: responses.RequestsMock) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token("at-1"))
    (account,) = app.get_accounts()
    http.upsert(responses.POST, token_posts(http)[-1].request.url, json=user_token("at-2"))
    challenge = parse_claims_challenge(CAE_NBF)
    result = app.acquire_token_silent(["User.Read"], account, claims_challenge=challenge)
    assert result is not None
    assert result["access_token"] == "at-2"
    body = body_of(token_posts(http)[-1])
    assert body["grant_type"] == "refresh_token"
    assert json.loads(body["claims"]) == json.loads(CAE_NBF_CLAIMS)
