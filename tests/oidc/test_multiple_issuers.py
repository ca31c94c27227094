"""Several issuers on one host (Keycloak's /realms/NAME layout) and one token cache.

MSAL's cache keys hold the authority's host (``environment``) and the first path segment
of the token endpoint (``realm``): for ``http://127.0.0.1:PORT/realms/contoso`` and
``.../realms/fabrikam`` both are ``127.0.0.1`` and ``realms``. identitylib's
``environment`` of a generic issuer is host, port and path, so the two stay apart.
"""

from __future__ import annotations

import identitylib
from tests.oidc_peer_fixture import OidcPeer

from ._support import API_READ, PEER_GROUP, claims_of, sign_in, web_app

pytestmark = PEER_GROUP


def test_realm_of_a_keycloak_like_issuer(oidc_peer: OidcPeer) -> None:
    app = web_app(oidc_peer, oidc_authority=oidc_peer.tenant_issuer("contoso"))
    assert app.authority.token_endpoint == f"{oidc_peer.tenant_issuer('contoso')}/token"
    assert app.authority.tenant == "realms"  # the same for every realm of the host


def test_each_issuer_with_its_own_cache(oidc_peer: OidcPeer) -> None:
    # The workaround: one token cache per issuer.
    for name in oidc_peer.tenants:
        issuer = oidc_peer.tenant_issuer(name)
        app = web_app(oidc_peer, oidc_authority=issuer, token_cache=identitylib.TokenCache())
        result = app.acquire_token_for_client([API_READ])
        assert result["token_source"] == "identity_provider", result
        assert claims_of(result["access_token"])["iss"] == issuer


def test_app_tokens_of_two_issuers_in_one_cache(oidc_peer: OidcPeer) -> None:
    cache = identitylib.TokenCache()
    for name in oidc_peer.tenants:
        issuer = oidc_peer.tenant_issuer(name)
        app = web_app(oidc_peer, oidc_authority=issuer, token_cache=cache)
        result = app.acquire_token_for_client([API_READ])
        # Never the first issuer's token from the cache: each issuer gets its own.
        assert claims_of(result["access_token"])["iss"] == issuer, result["token_source"]


def test_accounts_of_two_issuers_in_one_cache(oidc_peer: OidcPeer) -> None:
    # The same login at two issuers: the same `sub`, hence the same home_account_id.
    cache = identitylib.TokenCache()
    contoso = web_app(
        oidc_peer, oidc_authority=oidc_peer.tenant_issuer("contoso"), token_cache=cache
    )
    sign_in(oidc_peer, contoso, [API_READ])
    fabrikam = web_app(
        oidc_peer, oidc_authority=oidc_peer.tenant_issuer("fabrikam"), token_cache=cache
    )
    assert fabrikam.get_accounts() == [], "fabrikam lists the account signed in at contoso"
