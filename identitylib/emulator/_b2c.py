"""B2C / External ID user flows: ``{base}/{tenant}/{policy}`` authorities (§ B2C).

A tenant's ``user_flows`` (``Tenant.user_flows``: policy name → kind) are served under
``{base}/{tenant}/{policy}/...`` (and ``{base}/tfp/{tenant}/{policy}/...``): discovery,
keys, authorize, token and logout, as B2C serves them. Each user flow has its own
discovery document, issuer (``{base}/tfp/{tenant id}/{policy}/v2.0/``) and signing keys;
its tokens carry ``tfp`` and ``acr`` with the policy name, ``sub`` = the user's object id
and ``ver`` 1.0, and ``client_info`` names the user flow in ``uid`` (``{oid}-{policy}``).

msal and identitylib both take an authority whose second path segment starts with
``b2c_`` for B2C on any host, loopback included.
"""

from __future__ import annotations

from typing import Any

from ._context import ProviderState
from ._directory import TenantRef
from ._reply import Reply
from ._tokens import b2c_issuer

DISCOVERY_HEADERS = {
    "Cache-Control": "max-age=86400, private",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
}


def openid_configuration(state: ProviderState, base_url: str, tenant: TenantRef) -> Reply:
    """The OpenID configuration of one user flow, as B2C publishes it."""
    root = f"{base_url}/{tenant.path}"
    document: dict[str, Any] = {
        "issuer": b2c_issuer(base_url, str(tenant.tenant_id), str(tenant.policy)),
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "code id_token", "id_token"],
        "scopes_supported": ["openid"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "name",
            "emails",
            "oid",
            "sub",
            "tfp",
            "ver",
            "iss",
            "iat",
            "exp",
            "aud",
            "acr",
            "nonce",
            "auth_time",
            "tid",
        ],
    }
    return Reply(200, json=document, headers=dict(DISCOVERY_HEADERS))


def jwks(state: ProviderState, tenant: TenantRef) -> Reply:
    """The user flow's own signing keys."""
    ring = state.policy_keys.ring(str(tenant.tenant_id), str(tenant.policy))
    return Reply(200, json=ring.jwks(None), headers=dict(DISCOVERY_HEADERS))
