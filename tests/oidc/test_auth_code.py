"""The web-app authorization code flow against oidc-provider, then silent and refresh."""

from __future__ import annotations

import warnings
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.oidc_peer_fixture import OidcPeer

from ._support import (
    API_READ,
    API_WRITE,
    PEER_GROUP,
    CountingSession,
    claims_of,
    sign_in,
    verified_claims,
    web_app,
)

pytestmark = PEER_GROUP


def test_auth_uri_is_for_the_provider(oidc_peer: OidcPeer) -> None:
    flow = web_app(oidc_peer).initiate_auth_code_flow(
        [API_READ], redirect_uri=oidc_peer.web_redirect_uri, response_mode="form_post"
    )
    assert flow["auth_uri"].startswith(f"{oidc_peer.issuer}/auth?")
    query = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert query["client_id"] == [oidc_peer.web_client_id]
    assert query["scope"] == [f"{API_READ} offline_access openid profile"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["response_mode"] == ["form_post"]
    assert set(flow["scope"]) == {API_READ, "openid", "profile", "offline_access"}


def test_code_flow_tokens_and_account(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    result = sign_in(oidc_peer, app, [API_READ])
    assert result.get("token_source") == "identity_provider", result
    # The access token is a JWT for the API (resource indicator chosen from the scope).
    at = verified_claims(oidc_peer, result["access_token"], oidc_peer.api_resource)
    assert at["sub"] == "alice"
    assert at["scope"] == API_READ
    # The ID token, checked by the library (issuer, audience, nonce) and decoded for us.
    id_claims = result["id_token_claims"]
    assert isinstance(id_claims, dict)
    assert id_claims["sub"] == "alice"
    assert id_claims["iss"] == oidc_peer.issuer
    assert id_claims["aud"] == oidc_peer.web_client_id
    assert id_claims["preferred_username"] == "alice@example.test"
    assert claims_of(result["id_token"]) == id_claims
    assert result["refresh_token"]
    assert "client_info" not in result  # client_info=1 is Entra's; nobody else answers it
    assert result["scope"] == API_READ  # the access token's scopes only, not openid & co.


def test_account_from_the_id_token(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    sign_in(oidc_peer, app, [API_READ], username="carol")
    (account,) = app.get_accounts()
    # No client_info: the home account id falls back to the ID token's `sub`.
    assert account["home_account_id"] == "carol"
    assert account["local_account_id"] == "carol"
    assert account["username"] == "carol@example.test"
    assert account["environment"] == oidc_peer.issuer.split("://", 1)[1].lower()
    assert account["realm"] == "token"
    assert account["authority_type"] == "MSSTS"
    assert app.get_accounts(username="CAROL@example.test") == [account]


def test_silent_cache_hit_then_forced_refresh(oidc_peer: OidcPeer) -> None:
    http = CountingSession()
    app = web_app(oidc_peer, http_client=http)
    # OpenID Connect Core §11: offline_access is granted only with prompt=consent; Entra
    # grants it without. The refresh request asks for offline_access again, so it must
    # have been granted (see test_refresh_after_sign_in_without_consent_prompt).
    signed_in = sign_in(oidc_peer, app, [API_READ], prompt="consent")
    (account,) = app.get_accounts()

    calls = len(http.calls)
    cached = app.acquire_token_silent([API_READ], account)
    assert cached is not None
    assert cached["token_source"] == "cache"
    assert cached["access_token"] == signed_in["access_token"]
    assert len(http.calls) == calls

    refreshed = app.acquire_token_silent([API_READ], account, force_refresh=True)
    assert refreshed is not None, "the refresh token was not found or not accepted"
    assert refreshed["token_source"] == "identity_provider", refreshed
    assert refreshed["access_token"] != signed_in["access_token"]
    assert claims_of(refreshed["access_token"])["aud"] == oidc_peer.api_resource
    assert refreshed["id_token_claims"]["sub"] == "alice"
    assert http.paths(oidc_peer).count("/token") == 2  # the code, then the refresh token

    again = app.acquire_token_silent([API_READ], account)
    assert again is not None
    assert again["access_token"] == refreshed["access_token"]
    assert again["token_source"] == "cache"


def test_refresh_after_sign_in_without_consent_prompt(oidc_peer: OidcPeer) -> None:
    # oidc-provider drops offline_access from an authorization request without
    # prompt=consent (OpenID Connect Core §11); this peer still issues a refresh token
    # (its issueRefreshToken policy), whose grant then has no offline_access.
    app = web_app(oidc_peer)
    signed_in = sign_in(oidc_peer, app, [API_READ])
    assert signed_in["refresh_token"]
    (account,) = app.get_accounts()
    refreshed = app.acquire_token_silent_with_error([API_READ], account, force_refresh=True)
    assert refreshed is not None
    assert "access_token" in refreshed, refreshed


def test_refresh_for_a_scope_not_granted_is_an_error(oidc_peer: OidcPeer) -> None:
    # oidc-provider refuses a refresh token request for scopes beyond the grant
    # (invalid_scope); Entra would issue a token for another resource instead.
    app = web_app(oidc_peer)
    sign_in(oidc_peer, app, [API_READ], prompt="consent")
    (account,) = app.get_accounts()
    result = app.acquire_token_silent_with_error([API_WRITE], account)
    assert result is not None
    assert result.get("error") == "invalid_scope", result
    assert app.acquire_token_silent([API_WRITE], account) is None


def test_query_response_mode(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # msal 1.39 warns without form_post
        flow = app.initiate_auth_code_flow([API_READ], redirect_uri=oidc_peer.web_redirect_uri)
    auth_response = oidc_peer.sign_in(flow["auth_uri"], flow["redirect_uri"])
    assert auth_response["iss"] == oidc_peer.issuer  # RFC 9207, which Entra does not send
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result


def test_extra_oidc_scope_reaches_the_id_token(oidc_peer: OidcPeer) -> None:
    result = sign_in(oidc_peer, web_app(oidc_peer), [API_READ, "email"])
    assert result["id_token_claims"]["email"] == "alice@example.test"


def test_sign_in_only_gets_a_userinfo_token(oidc_peer: OidcPeer) -> None:
    # No API scope: the access token is oidc-provider's opaque one, good for userinfo.
    result = sign_in(oidc_peer, web_app(oidc_peer), [])
    assert "access_token" in result, result
    assert result["id_token_claims"]["sub"] == "alice"
    userinfo = requests.get(
        f"{oidc_peer.issuer}/me",
        headers={"Authorization": f"Bearer {result['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == "alice"


def test_prompt_none_without_session_is_an_error_result(oidc_peer: OidcPeer) -> None:
    result = sign_in(oidc_peer, web_app(oidc_peer), [API_READ], prompt="none")
    assert result.get("error") == "login_required", result
    assert "access_token" not in result


def test_state_mismatch_raises(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    flow = app.initiate_auth_code_flow(
        [API_READ], redirect_uri=oidc_peer.web_redirect_uri, response_mode="form_post"
    )
    auth_response = oidc_peer.sign_in(flow["auth_uri"], flow["redirect_uri"])
    with pytest.raises(ValueError, match="state"):
        app.acquire_token_by_auth_code_flow(flow, {**auth_response, "state": "forged"})


def test_code_is_single_use(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    flow = app.initiate_auth_code_flow(
        [API_READ], redirect_uri=oidc_peer.web_redirect_uri, response_mode="form_post"
    )
    auth_response = oidc_peer.sign_in(flow["auth_uri"], flow["redirect_uri"])
    assert "access_token" in app.acquire_token_by_auth_code_flow(dict(flow), auth_response)
    replay = app.acquire_token_by_auth_code_flow(dict(flow), auth_response)
    assert replay.get("error") == "invalid_grant", replay


def test_remove_account(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    sign_in(oidc_peer, app, [API_READ])
    (account,) = app.get_accounts()
    app.remove_account(account)
    assert app.get_accounts() == []
    assert app.acquire_token_silent([API_READ], account) is None


def test_refresh_token_migration(oidc_peer: OidcPeer) -> None:
    # A refresh token obtained elsewhere (here: by another app object) is redeemed with
    # acquire_token_by_refresh_token and lands in this app's cache.
    first = sign_in(oidc_peer, web_app(oidc_peer), [API_READ], prompt="consent")
    app = web_app(oidc_peer)
    result = app.acquire_token_by_refresh_token(first["refresh_token"], [API_READ])
    assert "access_token" in result, result
    assert [a["home_account_id"] for a in app.get_accounts()] == ["alice"]


def test_excluding_offline_access_lets_refresh_work_without_consent_prompt(
    oidc_peer: OidcPeer,
) -> None:
    # exclude_scopes=["offline_access"] keeps it out of the sign-in too, not only out of
    # refresh requests. This peer issues refresh tokens by
    # policy; a provider that needs offline_access for one wants prompt="consent" instead.
    app = web_app(oidc_peer, exclude_scopes=["offline_access"])
    signed_in = sign_in(oidc_peer, app, [API_READ])
    assert signed_in["refresh_token"]
    (account,) = app.get_accounts()
    refreshed = app.acquire_token_silent_with_error([API_READ], account, force_refresh=True)
    assert refreshed is not None
    assert refreshed.get("token_source") == "identity_provider", refreshed


def test_authorization_response_from_another_issuer_is_refused(oidc_peer: OidcPeer) -> None:
    # RFC 9207: oidc-provider sends `iss` with every authorization response; a response
    # naming another issuer (a mix-up attack) must not be redeemed.
    app = web_app(oidc_peer)
    flow = app.initiate_auth_code_flow(
        [API_READ], redirect_uri=oidc_peer.web_redirect_uri, response_mode="form_post"
    )
    auth_response = oidc_peer.sign_in(flow["auth_uri"], flow["redirect_uri"])
    forged = {**auth_response, "iss": "https://attacker.example"}
    result = app.acquire_token_by_auth_code_flow(flow, forged)
    assert result.get("error") == "issuer_mismatch", result
    assert "access_token" not in result


def test_max_age_is_checked_against_auth_time(oidc_peer: OidcPeer) -> None:
    # oidc-provider adds auth_time to the ID token when max_age is requested.
    result = sign_in(oidc_peer, web_app(oidc_peer), [API_READ], max_age=600)
    assert "access_token" in result, result
    assert isinstance(result["id_token_claims"]["auth_time"], int)
