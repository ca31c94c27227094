"""Discovery against a real OpenID Connect provider: endpoints, issuer check, errors."""

from __future__ import annotations

import pytest

from identitylib._authority import DEFAULT_TRUST
from identitylib._authority._registry import REGISTRY
from tests.oidc_peer_fixture import OidcPeer

from ._support import API_READ, API_WRITE, PEER_GROUP, CountingSession, web_app

pytestmark = PEER_GROUP


def discovery_entries(http_cache: dict[object, object]) -> list[str]:
    """The discovery documents persisted in an app's http_cache (their keys)."""
    return sorted(str(k) for k in http_cache if str(k).startswith("identitylib.oidc-config"))


def test_endpoints_discovered_and_issuer_accepted(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer)
    assert app.authority.is_oidc
    # MSAL's read-only authority attributes, filled in from the provider's configuration.
    assert app.authority.token_endpoint == f"{oidc_peer.issuer}/token"
    assert app.authority.authorization_endpoint == f"{oidc_peer.issuer}/auth"
    assert app.authority.device_authorization_endpoint == f"{oidc_peer.issuer}/device/auth"
    # Entra keeps the tenant in the token endpoint's first path segment; here the cache
    # "realm" is whatever that segment is.
    assert app.authority.tenant == "token"
    assert app.authority.instance == "127.0.0.1"


def test_constructor_makes_no_request_and_discovery_is_shared(oidc_peer: OidcPeer) -> None:
    http = CountingSession()
    app = web_app(oidc_peer, http_client=http)
    assert http.calls == []  # lazy: nothing before the first token request
    assert "access_token" in app.acquire_token_for_client([API_READ])
    web_app(oidc_peer, http_client=http).acquire_token_for_client([API_READ])
    assert http.paths(oidc_peer).count("/.well-known/openid-configuration") == 1


def test_issuer_with_trailing_slash(oidc_peer: OidcPeer) -> None:
    result = web_app(oidc_peer, oidc_authority=oidc_peer.issuer + "/").acquire_token_for_client(
        [API_READ]
    )
    assert "access_token" in result, result


def test_issuer_mismatch_is_an_error_result(oidc_peer: OidcPeer) -> None:
    # The same server reached by another name: its configuration names 127.0.0.1, so a
    # client configured with localhost must refuse it (mix-up protection).
    other_name = f"http://localhost:{oidc_peer.port}"
    result = web_app(oidc_peer, oidc_authority=other_name).acquire_token_for_client([API_READ])
    assert result.get("error") == "invalid_authority", result
    assert oidc_peer.issuer in result["error_description"]
    assert "access_token" not in result
    assert REGISTRY.get(DEFAULT_TRUST, f"{other_name}/.well-known/openid-configuration") is None


def test_issuer_mismatch_on_attribute_access_raises_value_error(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer, oidc_authority=f"http://localhost:{oidc_peer.port}")
    with pytest.raises(ValueError, match="does not match"):
        _ = app.authority.token_endpoint


def test_unknown_issuer_path_is_an_error_result(oidc_peer: OidcPeer) -> None:
    # oidc-provider answers 404 for a configuration below a path it does not serve.
    app = web_app(oidc_peer, oidc_authority=f"{oidc_peer.issuer}/no-such-tenant")
    result = app.acquire_token_for_client([API_READ])
    assert "error" in result, result
    assert "access_token" not in result


def test_http_cache_keeps_the_configuration(oidc_peer: OidcPeer) -> None:
    http_cache: dict[object, object] = {}
    web_app(oidc_peer, http_cache=http_cache).acquire_token_for_client([API_READ])
    assert http_cache
    REGISTRY.clear()  # a new process: only the app's http_cache remembers the provider
    app = web_app(oidc_peer, http_cache=http_cache)
    assert app.authority.known_metadata is not None  # known before any request
    assert "access_token" in app.acquire_token_for_client([API_WRITE])


def test_http_cache_is_not_used_through_a_custom_http_client(oidc_peer: OidcPeer) -> None:
    # A custom http_client cannot be recognised after a restart: what it learns is not
    # persisted, and it does not read what identitylib's own transport persisted.
    http_cache: dict[object, object] = {}
    web_app(oidc_peer, http_cache=http_cache).acquire_token_for_client([API_READ])
    persisted = dict(http_cache)
    assert discovery_entries(persisted)
    REGISTRY.clear()
    http = CountingSession()
    app = web_app(oidc_peer, http_client=http, http_cache=http_cache)
    assert "access_token" in app.acquire_token_for_client([API_WRITE])
    assert http.paths(oidc_peer).count("/.well-known/openid-configuration") == 1
    assert discovery_entries(http_cache) == discovery_entries(persisted)  # nothing added
