"""``grant_type=password`` -- resource owner password credentials (wire-formats §7.5)."""

from __future__ import annotations

from typing import Any

from identitylib.emulator._challenges import (
    client_capabilities,
    parse_claims,
    requested_acrs,
    sign_in_amr,
)
from identitylib.emulator._context import TokenRequest, check_password
from identitylib.emulator._errors import OAuthError
from identitylib.emulator._grants._issue import issue_user_tokens
from identitylib.emulator._resources import parse_user_scopes

#: Scopes assumed when a ROPC request names none.
DEFAULT_SCOPE = "openid profile offline_access"


def require_public_flows(req: TokenRequest) -> None:
    """Public clients need "allow public client flows" for ROPC and device code."""
    if req.client.public and not req.client.allow_public_client_flows:
        raise OAuthError(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )


def grant(req: TokenRequest) -> dict[str, Any]:
    """Sign the user in with username and password; never on ``common``/``consumers``,
    never a user of a federated domain (whose password only the federation server knows:
    clients go through WS-Trust and the SAML bearer grant, ``saml_bearer.py``).

    A ``claims`` parameter carrying the emulator's MFA challenge counts as MFA done.
    """
    if req.tenant.alias in ("common", "consumers"):
        raise OAuthError(
            "invalid_request",
            9001023,
            "The grant type is not supported over the /common or /consumers endpoints. "
            "Please use the /organizations or tenant-specific endpoint.",
        )
    require_public_flows(req)
    username = req.require("username")
    password = req.form.get("password")
    if not isinstance(password, str) or not password:
        req.require("password")
    federated = req.state.directory.user(username)
    if federated is not None and req.state.directory.is_federated(federated):
        # Entra holds no password of a federated user: only the federation server checks it.
        raise OAuthError(
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    user = check_password(req.state, username.strip(), str(password))
    claims = parse_claims(req.get("claims"))
    sign_in = req.state.sign_in(
        user, req.tenant, sign_in_amr(claims), int(req.now), requested_acrs(claims)
    )
    scope_text = req.get("scope") or DEFAULT_SCOPE
    scopes = parse_user_scopes(req.state.directory, scope_text)
    return issue_user_tokens(
        req, sign_in, scopes, scope_text, capabilities=client_capabilities(claims)
    )
