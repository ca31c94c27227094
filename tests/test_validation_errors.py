"""identitylib.validation: the Authorization header, status codes and WWW-Authenticate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import pytest
import responses

from identitylib.validation import TokenValidationError

from .test_validation_fakes import FakeIssuer, make_validator, reset_caches


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    reset_caches()
    yield
    reset_caches()


def header_error(value: Optional[str]) -> TokenValidationError:
    with pytest.raises(TokenValidationError) as caught:
        make_validator().validate_bearer_header(value)
    return caught.value


@pytest.mark.parametrize("value", [None, "", "   ", "Basic dXNlcjpwYXNz", "Negotiate abc"])
def test_no_bearer_token_gets_a_bare_challenge(value: Optional[str]) -> None:
    error = header_error(value)
    assert error.error == "invalid_request"
    assert error.token_missing
    assert error.status_code == 401
    assert error.www_authenticate == "Bearer"


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer a b", "Bearer a\tb", "Bearer ä"])
def test_malformed_bearer_header_is_a_bad_request(value: str) -> None:
    error = header_error(value)
    assert error.error == "invalid_request"
    assert error.status_code == 400
    assert error.www_authenticate.startswith('Bearer error="invalid_request", error_description=')


def test_invalid_token_challenge(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http)
    with pytest.raises(TokenValidationError) as caught:
        make_validator().validate_bearer_header(f"Bearer {issuer.token(exp=1)}")
    assert caught.value.status_code == 401
    assert caught.value.www_authenticate == (
        'Bearer error="invalid_token", error_description="The token has expired"'
    )


def test_insufficient_scope_challenge(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http)
    with pytest.raises(TokenValidationError) as caught:
        make_validator(required_scopes="Files.Read").validate(issuer.token())
    assert caught.value.status_code == 403
    assert caught.value.www_authenticate == (
        'Bearer error="insufficient_scope", error_description="The token lacks the scopes '
        'Files.Read", scope="Files.Read"'
    )


def test_unavailable_challenge() -> None:
    error = TokenValidationError("temporarily_unavailable", "down")
    assert error.status_code == 503
    assert (
        error.www_authenticate == 'Bearer error="temporarily_unavailable", error_description="down"'
    )


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ('say "hi"', "say 'hi'"),
        ("back\\slash", "back/slash"),
        ("line\r\nSet-Cookie: x=1", "line??Set-Cookie: x=1"),
        ("caf\u00e9 \u2603", "caf? ?"),
    ],
)
def test_challenge_values_are_safe_header_text(description: str, expected: str) -> None:
    header = TokenValidationError("invalid_token", description).www_authenticate
    assert header == f'Bearer error="invalid_token", error_description="{expected}"'


def test_long_descriptions_are_cut() -> None:
    header = TokenValidationError("invalid_token", "x" * 1000).www_authenticate
    assert len(header) < 300
    assert header.endswith('..."')


def test_claim_values_in_descriptions_are_bounded(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http)
    token: Any = issuer.token(iss="https://evil.example/" + "\r\n" * 5000)
    with pytest.raises(TokenValidationError) as caught:
        make_validator().validate(token)
    assert len(caught.value.description) < 200
    assert "\r" not in caught.value.www_authenticate
    assert "\n" not in caught.value.description  # repr() escapes it


def test_explicit_status_code() -> None:
    assert TokenValidationError("invalid_token", "x", status_code=418).status_code == 418
    assert TokenValidationError("unknown_code", "x").status_code == 401
