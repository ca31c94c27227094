"""``grant_type=client_credentials`` (wire-formats §7.3): app-only tokens."""

from __future__ import annotations

from typing import Any

from identitylib.emulator._client_auth import PUBLIC
from identitylib.emulator._context import TokenRequest
from identitylib.emulator._errors import OAuthError
from identitylib.emulator._grants._issue import lifetime_fields
from identitylib.emulator._resources import parse_app_scope


def grant(req: TokenRequest) -> dict[str, Any]:
    """An app-only token for the one ``{resource}/.default`` in ``scope``: the resource's
    app roles as ``roles``; no ``scope``, refresh token, ID token or ``client_info``."""
    if req.azpacr == PUBLIC:
        raise OAuthError(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    if not req.tenant.specific:
        raise OAuthError(
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by "
            "any provided credentials. Use a tenant-specific authority for client credentials.",
        )
    resource, audience = parse_app_scope(req.state.directory, req.require("scope"))
    body: dict[str, Any] = {"token_type": "Bearer"}
    body.update(lifetime_fields(req))
    body["access_token"] = req.state.minter.app_access_token(
        req.base_url,
        str(req.tenant.tenant_id),
        client=req.client,
        azpacr=req.azpacr,
        resource=resource,
        audience=audience,
        now=req.now,
        lifetime=body["expires_in"],
    )
    return body
