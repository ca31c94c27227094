"""Client credentials against oidc-provider: secrets, private_key_jwt, resources, cache."""

from __future__ import annotations

import pytest

import identitylib
from tests.oidc_peer_fixture import OidcPeer

from ._support import (
    API_READ,
    API_WRITE,
    PEER_GROUP,
    CountingSession,
    claims_of,
    verified_claims,
    web_app,
)

pytestmark = PEER_GROUP


def test_secret_post_then_cache_hit(oidc_peer: OidcPeer) -> None:
    http = CountingSession()
    app = web_app(oidc_peer, http_client=http)
    first = app.acquire_token_for_client([API_READ])
    assert first["token_source"] == "identity_provider", first
    assert first["token_type"] == "Bearer"
    assert first["scope"] == API_READ  # oidc-provider echoes scope; Entra does not here
    claims = verified_claims(oidc_peer, first["access_token"], oidc_peer.api_resource)
    assert claims["client_id"] == oidc_peer.web_client_id
    assert claims["sub"] == oidc_peer.web_client_id
    assert claims["scope"] == API_READ
    token_posts = http.paths(oidc_peer).count("/token")
    second = app.acquire_token_for_client([API_READ])
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert http.paths(oidc_peer).count("/token") == token_posts


def test_secret_goes_in_the_body(oidc_peer: OidcPeer) -> None:
    # MSAL's wire format: client_secret_post (never HTTP Basic), which oidc-provider accepts.
    seen: list[dict[str, str]] = []

    class Spy(CountingSession):
        def post(self, url, data=None, **kwargs):  # type: ignore[no-untyped-def, override]
            seen.append(dict(data or {}))
            assert "Authorization" not in (kwargs.get("headers") or {})
            return super().post(url, data=data, **kwargs)

    result = web_app(oidc_peer, http_client=Spy()).acquire_token_for_client([API_READ])
    assert "access_token" in result, result
    assert seen[-1]["client_secret"] == oidc_peer.web_client_secret
    assert seen[-1]["grant_type"] == "client_credentials"


def test_cache_entry_shape(oidc_peer: OidcPeer) -> None:
    cache = identitylib.SerializableTokenCache()
    web_app(oidc_peer, token_cache=cache).acquire_token_for_client([API_READ, API_WRITE])
    (entry,) = cache.search("AccessToken", query={"client_id": oidc_peer.web_client_id})
    assert entry["home_account_id"] is None
    # host, port and issuer path: two issuers on one host never share entries
    assert entry["environment"] == oidc_peer.issuer.split("://", 1)[1].lower()
    assert entry["realm"] == "token"  # first segment of the token endpoint's path
    assert entry["target"] == f"{API_READ} {API_WRITE}"


def test_subset_of_cached_scopes_is_a_hit(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    both = app.acquire_token_for_client([API_READ, API_WRITE])
    assert both["token_source"] == "identity_provider"
    one = app.acquire_token_for_client([API_WRITE])
    assert one["token_source"] == "cache"
    assert one["access_token"] == both["access_token"]


def test_scopes_of_two_calls_are_separate_tokens(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    read = app.acquire_token_for_client([API_READ])
    write = app.acquire_token_for_client([API_WRITE])
    assert write["token_source"] == "identity_provider"
    assert claims_of(read["access_token"])["scope"] == API_READ
    assert claims_of(write["access_token"])["scope"] == API_WRITE


def test_explicit_resource_indicator_through_data(oidc_peer: OidcPeer) -> None:
    # RFC 8707: `resource` is not an MSAL parameter, but data= adds body fields, and
    # such extra fields key the cached token separately (MSAL's extended cache key).
    app = web_app(oidc_peer)
    data = {"resource": oidc_peer.api_resource}
    first = app.acquire_token_for_client([API_READ], data=data)
    assert first["token_source"] == "identity_provider", first
    assert claims_of(first["access_token"])["aud"] == oidc_peer.api_resource
    assert app.acquire_token_for_client([API_READ], data=data)["token_source"] == "cache"
    plain = app.acquire_token_for_client([API_READ])
    assert plain["token_source"] == "identity_provider"


def test_unknown_resource_is_an_error_result(oidc_peer: OidcPeer) -> None:
    result = web_app(oidc_peer).acquire_token_for_client(
        [API_READ], data={"resource": "urn:identitylib:unknown"}
    )
    assert result["error"] == "invalid_target", result
    assert "access_token" not in result


def test_wrong_secret_is_an_error_result(oidc_peer: OidcPeer) -> None:
    app = identitylib.ConfidentialClientApplication(
        oidc_peer.web_client_id, "not the secret", oidc_authority=oidc_peer.issuer
    )
    result = app.acquire_token_for_client([API_READ])
    assert result["error"] == "invalid_client", result
    assert "correlation_id" in result


@pytest.mark.parametrize("form", ["thumbprint", "public_certificate"])
def test_private_key_jwt(oidc_peer: OidcPeer, form: str) -> None:
    # A certificate credential signs a client assertion (RS256 + x5t with a thumbprint,
    # PS256 + x5t#S256 with the certificate) whose audience is the token endpoint; any
    # provider holding the public key accepts it.
    credential = dict(oidc_peer.jwt_client_credential)
    if form == "thumbprint":
        credential = {"private_key": credential["private_key"], "thumbprint": "00" * 20}
    app = identitylib.ConfidentialClientApplication(
        oidc_peer.jwt_client_id, credential, oidc_authority=oidc_peer.issuer
    )
    result = app.acquire_token_for_client([API_READ])
    assert "access_token" in result, (result, oidc_peer.log()[-600:])
    assert claims_of(result["access_token"])["client_id"] == oidc_peer.jwt_client_id


@pytest.mark.parametrize("form", ["thumbprint", "public_certificate"])
def test_private_key_jwt_signs_a_fresh_assertion_per_request(
    oidc_peer: OidcPeer, form: str
) -> None:
    # oidc-provider accepts each jti once: a reused assertion would be refused.
    credential = dict(oidc_peer.jwt_client_credential)
    if form == "thumbprint":
        credential = {"private_key": credential["private_key"], "thumbprint": "00" * 20}
    app = identitylib.ConfidentialClientApplication(
        oidc_peer.jwt_client_id, credential, oidc_authority=oidc_peer.issuer
    )
    first = app.acquire_token_for_client([API_READ])
    assert first.get("token_source") == "identity_provider", (first, oidc_peer.log()[-600:])
    app.remove_tokens_for_client()
    second = app.acquire_token_for_client([API_READ])
    assert second.get("token_source") == "identity_provider", (second, oidc_peer.log()[-600:])


def test_remove_tokens_for_client(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    app.acquire_token_for_client([API_READ])
    app.remove_tokens_for_client()
    assert app.acquire_token_for_client([API_READ])["token_source"] == "identity_provider"


def test_client_capabilities_claims_are_ignored_by_the_provider(oidc_peer: OidcPeer) -> None:
    # The `claims` request parameter (here from client_capabilities) is optional in OIDC;
    # oidc-provider without its claimsParameter feature ignores it.
    app = web_app(oidc_peer, client_capabilities=["CP1"])
    result = app.acquire_token_for_client([API_READ], claims_challenge='{"access_token": {}}')
    assert "access_token" in result, result
