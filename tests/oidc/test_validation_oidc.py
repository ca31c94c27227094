"""identitylib.validation with oidc-provider's JWT access tokens (RFC 9068, ``at+jwt``)."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from identitylib.validation import AccessTokenValidator, TokenValidationError
from identitylib.validation._discovery import clear_failures
from identitylib.validation._jwks_cache import JWKS_CACHE
from tests.oidc_peer_fixture import OidcPeer

from ._support import API_READ, API_WRITE, PEER_GROUP, CountingSession, claims_of, web_app

pytestmark = PEER_GROUP


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    JWKS_CACHE.clear()
    clear_failures()
    yield
    JWKS_CACHE.clear()


def api_token(peer: OidcPeer, scopes: list[str]) -> str:
    result = web_app(peer).acquire_token_for_client(scopes)
    assert "access_token" in result, result
    return str(result["access_token"])


def test_jwt_access_token_validates(oidc_peer: OidcPeer) -> None:
    token = api_token(oidc_peer, [API_READ])
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    http = CountingSession()
    validator = AccessTokenValidator(
        oidc_authority=oidc_peer.issuer,
        audience=oidc_peer.api_resource,
        required_scopes=[API_READ],
        http_client=http,
    )
    claims = validator.validate_bearer_header(f"Bearer {token}")
    assert claims["iss"] == oidc_peer.issuer
    assert claims["aud"] == oidc_peer.api_resource
    assert claims["client_id"] == oidc_peer.web_client_id
    assert claims["scope"] == API_READ  # RFC 9068's claim: read when there is no scp
    validator.validate(token)
    paths = http.paths(oidc_peer)
    assert paths.count("/jwks") == 1, paths


def test_missing_scope_and_other_audience(oidc_peer: OidcPeer) -> None:
    token = api_token(oidc_peer, [API_READ])
    writer = AccessTokenValidator(
        oidc_authority=oidc_peer.issuer, audience=oidc_peer.api_resource, required_scopes=API_WRITE
    )
    with pytest.raises(TokenValidationError) as caught:
        writer.validate(token)
    assert caught.value.error == "insufficient_scope"
    assert caught.value.scope == API_WRITE
    other = AccessTokenValidator(oidc_authority=oidc_peer.issuer, audience="urn:other:api")
    with pytest.raises(TokenValidationError, match="audience"):
        other.validate(token)


def test_token_of_another_issuer_on_the_same_host(oidc_peer: OidcPeer) -> None:
    # /realms/contoso has its own keys: its tokens fail here after one JWKS refetch.
    tenant = oidc_peer.tenant_issuer(oidc_peer.tenants[0])
    token = api_token_of(oidc_peer, tenant)
    assert claims_of(token)["iss"] == tenant
    validator = AccessTokenValidator(
        oidc_authority=oidc_peer.issuer, audience=oidc_peer.api_resource
    )
    validator.validate(api_token(oidc_peer, [API_READ]))
    with pytest.raises(TokenValidationError) as caught:
        validator.validate(token)
    assert caught.value.error == "invalid_token"
    AccessTokenValidator(oidc_authority=tenant, audience=oidc_peer.api_resource).validate(token)


def api_token_of(peer: OidcPeer, issuer: str) -> str:
    result = web_app(peer, oidc_authority=issuer).acquire_token_for_client([API_READ])
    assert "access_token" in result, (result, peer.log()[-600:])
    return str(result["access_token"])
