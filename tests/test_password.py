"""acquire_token_by_username_password: request shape, deprecation, errors, PII in logs."""

from __future__ import annotations

import logging
import warnings

import pytest
import responses

from identitylib import ConfidentialClientApplication

from .conftest import CLIENT_ID, add_discovery
from .test_silent_support import (
    AUTHORITY,
    HOME_ACCOUNT_ID,
    TOKEN_ENDPOINT,
    USERNAME,
    body_of,
    oauth_error,
    public_app,
    user_token,
)


@pytest.fixture
def endpoints(http: responses.RequestsMock) -> None:
    add_discovery(http)


def test_public_client_request_and_deprecation(
    http: responses.RequestsMock, endpoints: None
) -> None:
    http.post(TOKEN_ENDPOINT, json=user_token())
    app = public_app()
    with pytest.warns(DeprecationWarning, match="deprecated for public client flows"):
        result = app.acquire_token_by_username_password(USERNAME, "p@ss word", ["User.Read"])
    assert result["access_token"] == "at-1"
    assert result["token_source"] == "identity_provider"
    assert result["id_token_claims"]["preferred_username"] == USERNAME
    (realm,) = [c for c in http.calls if "/userrealm/" in c.request.url]
    assert realm.request.url == (
        f"https://login.microsoftonline.com/common/userrealm/{USERNAME}?api-version=1.0"
    )
    posts = [c for c in http.calls if c.request.method == "POST"]
    assert len(posts) == 1  # a managed user: the password grant, no WS-Trust
    assert body_of(posts[0]) == {
        "grant_type": "password",
        "client_id": CLIENT_ID,
        "username": USERNAME,
        "password": "p@ss word",
        "scope": "User.Read offline_access openid profile",
        "client_info": "1",
    }
    assert posts[0].request.headers["X-AnchorMailbox"] == f"upn:{USERNAME}"
    (account,) = app.get_accounts()
    assert account["home_account_id"] == HOME_ACCOUNT_ID
    assert account["account_source"] == "password"
    assert account["username"] == USERNAME


def test_username_stored_when_the_id_token_has_none(
    http: responses.RequestsMock, endpoints: None
) -> None:
    response = user_token()
    del response["id_token"]
    http.post(TOKEN_ENDPOINT, json=response)
    app = public_app()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app.acquire_token_by_username_password("Bob@Contoso.com", "pw", ["User.Read"])
    assert [a["username"] for a in app.get_accounts(username="bob@contoso.com")] == [
        "Bob@Contoso.com"
    ]


def test_confidential_client_authenticates_without_warning(
    http: responses.RequestsMock, endpoints: None
) -> None:
    http.post(TOKEN_ENDPOINT, json=user_token())
    app = ConfidentialClientApplication(CLIENT_ID, "s3cret", authority=AUTHORITY)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        result = app.acquire_token_by_username_password(USERNAME, "pw", ["User.Read"])
    assert "access_token" in result
    body = body_of(http.calls[-1])
    assert body["client_secret"] == "s3cret"
    assert body["grant_type"] == "password"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_error_is_returned_and_nothing_cached(
    http: responses.RequestsMock, endpoints: None
) -> None:
    http.post(
        TOKEN_ENDPOINT,
        status=400,
        json=oauth_error("invalid_grant", "AADSTS50126: Error validating credentials"),
    )
    app = public_app()
    result = app.acquire_token_by_username_password(USERNAME, "wrong", ["User.Read"])
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [0]
    assert app.get_accounts() == []
    assert app.token_cache._cache.get("RefreshToken", {}) == {}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_exclude_scopes_and_extra_data(http: responses.RequestsMock, endpoints: None) -> None:
    http.post(TOKEN_ENDPOINT, json=user_token(refresh_token=None))
    app = public_app(exclude_scopes=["offline_access"])
    app.acquire_token_by_username_password(
        USERNAME, "pw", ["User.Read"], data={"extra": "1"}, claims_challenge='{"a":{}}'
    )
    body = body_of(http.calls[-1])
    assert body["scope"] == "User.Read openid profile"
    assert body["extra"] == "1"
    assert body["claims"] == '{"a":{}}'


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_username_is_logged_only_as_pii(
    http: responses.RequestsMock, endpoints: None, caplog: pytest.LogCaptureFixture
) -> None:
    http.post(TOKEN_ENDPOINT, json=user_token())
    caplog.set_level(logging.DEBUG, logger="identitylib")
    public_app().acquire_token_by_username_password(USERNAME, "pw-secret", ["User.Read"])
    assert USERNAME not in caplog.text
    assert "pw-secret" not in caplog.text
    caplog.clear()
    http.post(TOKEN_ENDPOINT, json=user_token())
    public_app(enable_pii_log=True).acquire_token_by_username_password(
        USERNAME, "pw-secret", ["User.Read"]
    )
    assert USERNAME in caplog.text
    assert "pw-secret" not in caplog.text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_caller_mistakes_raise() -> None:
    app = public_app()
    with pytest.raises(ValueError, match="reserved"):
        app.acquire_token_by_username_password(USERNAME, "pw", ["openid"])
    with pytest.raises(ValueError, match="broker"):
        app.acquire_token_by_username_password(USERNAME, "pw", ["User.Read"], auth_scheme=object())
    with pytest.raises(ValueError, match="username"):
        app.acquire_token_by_username_password("  ", "pw", ["User.Read"])
    with pytest.raises(ValueError, match="claims_challenge"):
        app.acquire_token_by_username_password(
            USERNAME, "pw", ["User.Read"], claims_challenge="not json"
        )
