"""``grant_type=refresh_token`` (wire-formats §7.2, §10.4): rotation and FOCI."""

from __future__ import annotations

from typing import Any

from identitylib.emulator._challenges import client_capabilities, parse_claims, require_acrs
from identitylib.emulator._context import TokenRequest, member_tenant
from identitylib.emulator._errors import OAuthError
from identitylib.emulator._grants._issue import issue_user_tokens
from identitylib.emulator._resources import parse_user_scopes
from identitylib.emulator._tokens import SignIn


def grant(req: TokenRequest) -> dict[str, Any]:
    """Redeem a refresh token (own, or a family one) for new tokens and a new RT.

    Without ``scope`` the scopes of the original sign-in apply. On a tenant-specific path
    the tokens are for that tenant (the user must be a member), else the RT's tenant.
    """
    state = req.state
    record = state.refresh_tokens.redeem(req.require("refresh_token"), req.client)
    user = state.directory.user(record.username)
    if user is None:
        raise OAuthError(
            "invalid_grant", 50173, "The provided grant has been revoked: the user is gone."
        )
    tenant_id = member_tenant(req.tenant, user) if req.tenant.specific else record.tenant_id
    scope_text = req.get("scope") or record.scope
    scopes = parse_user_scopes(state.directory, scope_text)
    asked = parse_claims(req.get("claims"))
    require_acrs(asked, record.acrs, enforced=state.faults.api_claims_challenge)
    sign_in = SignIn(
        user,
        state.directory.user_oid(user),
        tenant_id,
        record.amr,
        record.auth_time,
        req.tenant.policy,
        record.acrs,
    )
    return issue_user_tokens(
        req,
        sign_in,
        scopes,
        scope_text,
        capabilities=client_capabilities(asked),
        always_refresh_token=True,
    )
