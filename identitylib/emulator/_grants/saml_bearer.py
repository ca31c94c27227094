"""The SAML bearer grants: a federated user's assertion from the federation server
(``urn:ietf:params:oauth:grant-type:saml1_1-bearer`` for SAML 1.1, ``...:saml2-bearer``
for SAML 2.0), base64url in ``assertion`` (wire formats §5)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from identitylib._protocol.grants.saml_bearer import SAML1_1, SAML2
from identitylib.emulator._challenges import (
    client_capabilities,
    parse_claims,
    requested_acrs,
    sign_in_amr,
)
from identitylib.emulator._context import TokenRequest
from identitylib.emulator._errors import OAuthError
from identitylib.emulator._grants._issue import issue_user_tokens
from identitylib.emulator._grants.password import DEFAULT_SCOPE, require_public_flows
from identitylib.emulator._resources import parse_user_scopes
from identitylib.emulator._saml import SAML1_VERSION, recognise

GRANT_TYPES = {SAML1_1: SAML1_VERSION, SAML2: "2.0"}
#: ``amr`` of a sign-in at the federation server.
FEDERATED = "fed"


def invalid_saml(reason: str) -> OAuthError:
    """AADSTS50008: the SAML assertion is not acceptable."""
    return OAuthError("invalid_grant", 50008, f"SAML token is invalid. {reason}")


def grant(req: TokenRequest) -> dict[str, Any]:
    """Redeem an assertion this emulator's federation server issued, unexpired, with the
    grant of its SAML version."""
    require_public_flows(req)
    encoded = req.require("assertion").strip()
    try:
        assertion = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, binascii.Error):
        raise invalid_saml("The assertion is not base64url.") from None
    issued = recognise(req.state, assertion)
    if issued is None:
        raise invalid_saml("The assertion was not issued by a federation server of this tenant.")
    if issued.expires_at <= req.now:
        raise invalid_saml("The assertion has expired.")
    if GRANT_TYPES.get(req.require("grant_type")) != issued.saml_version:
        raise invalid_saml(
            f"A SAML {issued.saml_version} assertion cannot be redeemed with this grant type."
        )
    user = req.state.directory.user(issued.username)
    if user is None:
        raise OAuthError(
            "invalid_grant", 50034, "The user account does not exist in the directory."
        )
    claims = parse_claims(req.get("claims"))
    amr = (*sign_in_amr(claims), FEDERATED)
    sign_in = req.state.sign_in(user, req.tenant, amr, issued.auth_time, requested_acrs(claims))
    scope_text = req.get("scope") or DEFAULT_SCOPE
    scopes = parse_user_scopes(req.state.directory, scope_text)
    return issue_user_tokens(
        req, sign_in, scopes, scope_text, capabilities=client_capabilities(claims)
    )
