"""A small protected web API served by the emulator: ``GET /demo-api/me``.

It stands for the demo API (``DEMO_API_ID``, ``api://demo-api``): it takes a bearer
access token this emulator signed for that API, unexpired and from one of its tenants'
v2 issuers, and answers with the token's claims. Tokens of the wrong kind get 401 with an
RFC 6750 ``WWW-Authenticate`` header.

With ``Faults.api_claims_challenge`` on, it demands the authentication context
:data:`AUTH_CONTEXT`, as an API under a Conditional Access authentication-context policy
does: a token without it in ``acrs`` gets 401 with Entra's claims challenge
(``error="insufficient_claims"``, ``claims`` = base64 of :data:`DEMO_API_CLAIMS`). The
emulator puts ``acrs`` in the tokens of a sign-in whose request carried those claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from identitylib._protocol._challenge import claims_challenge_header

from ._challenges import acrs_claims
from ._client_auth import CLOCK_SKEW
from ._config import DEMO_API_ID
from ._context import ProviderState
from ._errors import OAuthError
from ._grants.on_behalf_of import verified_claims
from ._reply import Reply
from ._tokens import v2_issuer

#: The path the demo API answers on.
DEMO_API_PATH = "/demo-api/me"
#: The authentication context the demo API demands when its fault switch is on.
AUTH_CONTEXT = "c1"
#: The claims request of its challenge.
DEMO_API_CLAIMS = acrs_claims((AUTH_CONTEXT,))
#: Permissions that let a caller in: the delegated scope or the application role.
ACCEPTED_SCOPE, ACCEPTED_ROLE = "access_as_user", "Data.Read.All"

_NO_STORE = {"Cache-Control": "no-store"}


def _authorization_uri(state: ProviderState, base_url: str) -> str:
    return f"{base_url}/{state.directory.default_tenant_id()}/oauth2/v2.0/authorize"


def _refuse(
    state: ProviderState, base_url: str, status: int, error: str, text: str, *, tell: bool = True
) -> Reply:
    """An RFC 6750 refusal (no ``error`` in the header when no token came at all)."""
    header = f'Bearer realm="", authorization_uri="{_authorization_uri(state, base_url)}"'
    if tell:
        safe = text.replace("\\", "").replace('"', "'")
        header += f', error="{error}", error_description="{safe}"'
    headers = {"WWW-Authenticate": header, **_NO_STORE}
    return Reply(status, json={"error": error, "error_description": text}, headers=headers)


def _checked(state: ProviderState, base_url: str, token: str) -> dict[str, Any]:
    """The claims of a valid access token for the demo API; OAuthError otherwise."""
    claims = verified_claims(state.keys, token)
    now = state.clock()
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, (int, float)) or not isinstance(nbf, (int, float)):
        raise OAuthError("invalid_token", 0, "The token has no valid lifetime.")
    if now > exp + CLOCK_SKEW or now < nbf - CLOCK_SKEW:
        raise OAuthError("invalid_token", 0, "The token is expired or not yet valid.")
    api = state.directory.app(DEMO_API_ID)
    audiences = {DEMO_API_ID.lower(), *(u.lower() for u in (api.identifier_uris if api else []))}
    if str(claims.get("aud", "")).lower() not in audiences:
        raise OAuthError("invalid_token", 0, "The token is not for this API.")
    issuers = {v2_issuer(base_url, t.tenant_id) for t in state.config.tenants}
    if claims.get("iss") not in issuers:
        raise OAuthError("invalid_token", 0, "The token is not from a known issuer.")
    return claims


def me(state: ProviderState, base_url: str, headers: Mapping[str, str]) -> Reply:
    """``GET /demo-api/me``: the caller's claims, or 401 / 403 with ``WWW-Authenticate``."""
    if state.directory.app(DEMO_API_ID) is None:
        return Reply(404, json={"error": "not_found", "error_description": "No demo API here."})
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refuse(state, base_url, 401, "invalid_request", "No bearer token.", tell=False)
    try:
        claims = _checked(state, base_url, token.strip())
    except OAuthError as err:
        return _refuse(state, base_url, 401, "invalid_token", err.text)
    scopes = str(claims.get("scp", "")).split()
    roles = claims.get("roles") if isinstance(claims.get("roles"), list) else []
    if ACCEPTED_SCOPE not in scopes and ACCEPTED_ROLE not in (roles or []):
        text = f"The token has neither the scope {ACCEPTED_SCOPE} nor the role {ACCEPTED_ROLE}."
        return _refuse(state, base_url, 403, "insufficient_scope", text)
    acrs = claims.get("acrs") if isinstance(claims.get("acrs"), list) else []
    if state.faults.api_claims_challenge and AUTH_CONTEXT not in (acrs or []):
        header = claims_challenge_header(
            DEMO_API_CLAIMS, authorization_uri=_authorization_uri(state, base_url)
        )
        body = {
            "error": "insufficient_claims",
            "error_description": f"This API needs the authentication context {AUTH_CONTEXT}.",
        }
        return Reply(401, json=body, headers={"WWW-Authenticate": header, **_NO_STORE})
    return Reply(200, json=claims, headers=dict(_NO_STORE))
