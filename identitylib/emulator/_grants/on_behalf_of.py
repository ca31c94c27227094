"""On-behalf-of: ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` (§7.6).

The assertion must be a user access token this emulator signed, unexpired, whose ``aud``
is the calling (middle-tier) app. The downstream tokens are for the same user and carry
the ``amr`` of the original sign-in.
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from identitylib.emulator._challenges import client_capabilities, parse_claims, require_acrs
from identitylib.emulator._client_auth import CLOCK_SKEW, PUBLIC
from identitylib.emulator._config import App
from identitylib.emulator._context import TokenRequest, member_tenant
from identitylib.emulator._errors import OAuthError, malformed
from identitylib.emulator._grants._issue import issue_user_tokens
from identitylib.emulator._resources import parse_user_scopes
from identitylib.emulator._signing import KeyRing
from identitylib.emulator._tokens import SignIn

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _bad_assertion(text: str) -> OAuthError:
    return OAuthError("invalid_grant", 50013, f"Assertion failed validation. {text}")


def verified_claims(keys: KeyRing, assertion: str) -> dict[str, Any]:
    """The payload of a JWT signed by one of ``keys``; OAuthError otherwise."""
    try:
        header = jwt.get_unverified_header(assertion)
        key = keys.find(str(header.get("kid")))
    except jwt.PyJWTError:
        raise OAuthError(
            "invalid_grant", 50027, "Invalid JWT token. The token is malformed."
        ) from None
    if key is None:
        raise _bad_assertion("[Reason - The key was not found.]")
    try:
        payload = json.loads(jwt.PyJWS().decode(assertion, key.public_key, algorithms=["RS256"]))
    except (jwt.PyJWTError, ValueError):
        raise _bad_assertion("[Reason - The signature is invalid.]") from None
    if not isinstance(payload, dict):
        raise OAuthError("invalid_grant", 50027, "Invalid JWT token. The payload is not JSON.")
    return payload


def check_user_assertion(payload: dict[str, Any], client: App, now: float) -> None:
    """An unexpired delegated access token addressed to ``client``."""
    if (
        "scp" not in payload
        and "roles" not in payload
        and "appid" not in payload
        and ("azp" not in payload)
    ):
        raise OAuthError(
            "invalid_grant",
            240002,
            "Input id_token cannot be used as 'urn:ietf:params:oauth:grant-type:jwt-bearer' grant.",
        )
    exp, nbf = payload.get("exp"), payload.get("nbf", 0)
    if (
        not isinstance(exp, (int, float))
        or not isinstance(nbf, (int, float))
        or (now >= exp or now < nbf - CLOCK_SKEW)
    ):
        raise OAuthError(
            "invalid_grant",
            500133,
            "Assertion is not within its valid time range. Ensure that the access token is "
            "not expired before using it for user assertion, or request a new token.",
        )
    audience = str(payload.get("aud", ""))
    allowed = {client.client_id.lower(), *(u.lower() for u in client.identifier_uris)}
    if audience.lower().rstrip("/") not in {a.rstrip("/") for a in allowed}:
        raise _bad_assertion(
            "Assertion audience does not match the Client app presenting the assertion. The "
            f"audience in the assertion was '{audience}' and the expected audience is "
            f"'{client.client_id}' or one of the Application Id URIs of this application."
        )
    if payload.get("idtyp") == "app" or "scp" not in payload:
        raise _bad_assertion("Only user tokens can be exchanged on behalf of a user.")


def grant(req: TokenRequest) -> dict[str, Any]:
    """Exchange the incoming user token for downstream tokens of the same user."""
    use = req.require("requested_token_use")
    if use != "on_behalf_of":
        raise malformed("requested_token_use must be 'on_behalf_of'.")
    assertion = req.require("assertion")
    if req.azpacr == PUBLIC:
        raise OAuthError(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    payload = verified_claims(req.state.keys, assertion)
    check_user_assertion(payload, req.client, req.now)
    user = req.state.directory.user_by_object_id(str(payload.get("oid", "")))
    if user is None:
        raise _bad_assertion("The user of the assertion does not exist.")
    if req.tenant.specific:
        tenant_id = member_tenant(req.tenant, user)
    else:
        tenant_id = str(payload.get("tid") or user.tenant_id)
    amr, acrs = payload.get("amr"), payload.get("acrs")
    satisfied = tuple(str(a) for a in acrs) if isinstance(acrs, list) else ()
    asked = parse_claims(req.get("claims"))
    require_acrs(asked, satisfied, enforced=req.state.faults.api_claims_challenge)
    sign_in = SignIn(
        user,
        req.state.directory.user_oid(user),
        tenant_id,
        tuple(str(a) for a in amr) if isinstance(amr, list) else (),
        int(payload.get("auth_time") or payload.get("iat") or req.now),
        acrs=satisfied,
    )
    scope_text = req.require("scope")
    scopes = parse_user_scopes(req.state.directory, scope_text)
    return issue_user_tokens(
        req, sign_in, scopes, scope_text, capabilities=client_capabilities(asked)
    )
