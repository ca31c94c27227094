"""The token response of user flows (wire-formats §8), shared by every user grant."""

from __future__ import annotations

from typing import Any, Optional

from identitylib.emulator._challenges import require_mfa
from identitylib.emulator._config import GRAPH_APP_ID, GRAPH_URI, App
from identitylib.emulator._consent import consent_required, missing
from identitylib.emulator._context import TokenRequest
from identitylib.emulator._records import RefreshTokenRecord
from identitylib.emulator._resources import ScopeRequest
from identitylib.emulator._tokens import SignIn, client_info_of

#: Stands in for Microsoft Graph when the configuration has no Graph app.
_FALLBACK_GRAPH = App(GRAPH_APP_ID, "Microsoft Graph", identifier_uris=[GRAPH_URI])


def lifetime_fields(req: TokenRequest) -> dict[str, Any]:
    """``expires_in`` / ``ext_expires_in`` (ints) and ``refresh_in`` when configured."""
    lifetime = req.state.access_token_lifetime()
    fields: dict[str, Any] = {"expires_in": lifetime, "ext_expires_in": lifetime}
    refresh_in = req.state.refresh_in()
    if refresh_in is not None:
        fields["refresh_in"] = refresh_in
    return fields


def issue_user_tokens(
    req: TokenRequest,
    sign_in: SignIn,
    scopes: ScopeRequest,
    scope_text: str,
    *,
    nonce: Optional[str] = None,
    capabilities: Optional[list[str]] = None,
    always_refresh_token: bool = False,
) -> dict[str, Any]:
    """Access token for the first resource asked (Graph when only OIDC scopes were), plus
    ``refresh_token`` (``offline_access``), ``id_token`` (``openid``), ``client_info``
    (``client_info=1``) and ``foci`` (family apps). Enforces the MFA fault and consent
    (APIs with ``requires_consent``; not in B2C user flows) first."""
    state = req.state
    require_mfa(state.mfa_demanded(sign_in.user), sign_in.amr)
    client_id = req.client.client_id
    if sign_in.policy is None and missing(state.consents, sign_in.oid, client_id, scopes):
        raise consent_required(req.client)
    primary = scopes.primary
    if primary is not None:
        resource, audience, scp = primary.app, primary.prefix, primary.names
    else:
        resource = state.directory.graph() or _FALLBACK_GRAPH
        audience = (resource.identifier_uris or [resource.client_id])[0]
        scp = [s for s in scopes.oidc if s != "offline_access"]
    body: dict[str, Any] = {"token_type": "Bearer", "scope": scopes.response_scope()}
    body.update(lifetime_fields(req))
    body["access_token"] = state.minter.user_access_token(
        req.base_url,
        sign_in,
        client=req.client,
        azpacr=req.azpacr,
        resource=resource,
        audience=audience,
        scp=scp,
        capabilities=capabilities or [],
        now=req.now,
        lifetime=body["expires_in"],
    )
    if always_refresh_token or scopes.wants("offline_access"):
        body["refresh_token"] = state.refresh_tokens.issue(
            RefreshTokenRecord(
                username=sign_in.user.username,
                client_id=req.client.client_id,
                family_id=req.client.family_id,
                scope=scope_text,
                tenant_id=sign_in.tenant_id,
                amr=sign_in.amr,
                auth_time=sign_in.auth_time,
                expires_at=req.now + state.config.refresh_token_lifetime,
                acrs=sign_in.acrs,
            )
        )
        if req.client.family_id:
            body["foci"] = req.client.family_id
    if scopes.wants("openid"):
        body["id_token"] = state.minter.id_token(
            req.base_url,
            sign_in,
            req.client.client_id,
            now=req.now,
            lifetime=state.config.id_token_lifetime,
            nonce=nonce,
            with_email=scopes.wants("email"),
        )
    if req.get("client_info") == "1":
        body["client_info"] = client_info_of(sign_in)
    return body
