"""``grant_type=authorization_code`` (wire-formats §7.1)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from identitylib._protocol._jwt import b64url_encode
from identitylib.emulator._challenges import client_capabilities, parse_claims, require_acrs
from identitylib.emulator._context import TokenRequest
from identitylib.emulator._errors import OAuthError
from identitylib.emulator._grants._issue import issue_user_tokens
from identitylib.emulator._records import AuthCode
from identitylib.emulator._resources import parse_user_scopes
from identitylib.emulator._tokens import SignIn


def _invalid_grant(code: int, text: str) -> OAuthError:
    return OAuthError("invalid_grant", code, text)


def pkce_matches(record: AuthCode, verifier: str | None) -> bool:
    """RFC 7636: S256 or plain (plain when the method was omitted)."""
    if not record.code_challenge:
        return True
    if verifier is None:
        return False
    if (record.code_challenge_method or "plain") == "S256":
        computed = b64url_encode(hashlib.sha256(verifier.encode("utf-8")).digest())
    else:
        computed = verifier
    return hmac.compare_digest(computed.encode(), record.code_challenge.encode())


def _check(req: TokenRequest, record: AuthCode | None) -> AuthCode:
    if record is None:
        raise _invalid_grant(70000, "The provided authorization code is invalid or malformed.")
    if record.client_id.lower() != req.client.client_id.lower():
        raise _invalid_grant(
            70000, "The provided authorization code was issued to a different client."
        )
    if record.redeemed:
        raise _invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new "
            "valid code or use an existing refresh token.",
        )
    if record.expires_at <= req.now:
        raise _invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to "
            "inactivity. Send a new interactive authorization request for this user and "
            "resource.",
        )
    if (req.tenant.policy or "").lower() != (record.tenant.policy or "").lower():
        raise _invalid_grant(
            70000, "The provided authorization code was issued by another user flow."
        )
    if req.tenant.specific and (req.tenant.tenant_id or "").lower() != record.tenant_id.lower():
        raise _invalid_grant(
            700005,
            "Provided Authorization Code is intended to use against other tenant, thus rejected.",
        )
    redirect_uri = req.require("redirect_uri")
    if redirect_uri != record.redirect_uri:
        raise OAuthError(
            "invalid_request",
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URI '{record.redirect_uri}' of the authorization request.",
        )
    if not pkce_matches(record, req.get("code_verifier")):
        raise _invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the "
            "authorization request.",
        )
    return record


def grant(req: TokenRequest) -> dict[str, Any]:
    """Redeem a code once, for the client and redirect URI it was issued to."""
    code = req.require("code")
    store = req.state.codes
    with store.lock:
        record = _check(req, store.get(code))
        record.redeemed = True
    user = req.state.directory.user(record.username)
    if user is None:
        raise _invalid_grant(50034, "The user account no longer exists in the directory.")
    scope_text = req.get("scope") or record.scope
    scopes = parse_user_scopes(req.state.directory, scope_text)
    asked = parse_claims(req.get("claims"))
    require_acrs(asked, record.acrs, enforced=req.state.faults.api_claims_challenge)
    sign_in = SignIn(
        user,
        req.state.directory.user_oid(user),
        record.tenant_id,
        record.amr,
        record.auth_time,
        record.tenant.policy,
        record.acrs,
    )
    capabilities = client_capabilities(record.claims, asked)
    return issue_user_tokens(
        req, sign_in, scopes, scope_text, nonce=record.nonce, capabilities=capabilities
    )
