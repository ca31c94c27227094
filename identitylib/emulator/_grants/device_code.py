"""``grant_type=urn:ietf:params:oauth:grant-type:device_code`` -- polling (§7.4).

Entra also takes the short ``grant_type=device_code``, which msal-node sends
(msal-common's ``GrantType.DEVICE_CODE_GRANT``); so does the emulator.
"""

from __future__ import annotations

from typing import Any

from identitylib.emulator._challenges import client_capabilities
from identitylib.emulator._context import TokenRequest
from identitylib.emulator._errors import OAuthError, missing_parameter
from identitylib.emulator._grants._issue import issue_user_tokens
from identitylib.emulator._grants.password import require_public_flows
from identitylib.emulator._records import DeviceAuthorization
from identitylib.emulator._resources import parse_user_scopes
from identitylib.emulator._tokens import SignIn

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
#: The short form of the same grant type (msal-node's).
SHORT_GRANT_TYPE = "device_code"


def _poll(req: TokenRequest, record: DeviceAuthorization | None) -> DeviceAuthorization:
    """Advance the poll state machine under the store lock; the approved record or error."""
    if record is None or record.client_id.lower() != req.client.client_id.lower():
        raise OAuthError(
            "bad_verification_code", 70018, "The device code is not recognized for this client."
        )
    if record.status == "redeemed":
        raise OAuthError("invalid_grant", 54005, "The device code was already redeemed.")
    if record.expires_at <= req.now:
        raise OAuthError(
            "expired_token",
            70019,
            "Verification code expired. The device code flow lasted longer than its expires_in.",
        )
    if record.status == "declined":
        raise OAuthError(
            "authorization_declined", 65004, "The user declined the authorization request."
        )
    if record.status == "pending":
        too_fast = (
            req.state.options.device_slow_down
            and record.last_poll is not None
            and req.now - record.last_poll < record.interval
        )
        record.last_poll = req.now
        if too_fast:
            raise OAuthError(
                "slow_down", 70016, f"Polling too fast; wait {record.interval} seconds."
            )
        raise OAuthError(
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    record.status = "redeemed"
    return record


def grant(req: TokenRequest) -> dict[str, Any]:
    """Poll with ``device_code`` (or MSAL's legacy duplicate ``code``)."""
    require_public_flows(req)
    device_code = req.get("device_code") or req.get("code")
    if device_code is None:
        raise missing_parameter("device_code")
    store = req.state.devices
    with store.lock:
        record = _poll(req, store.get(device_code))
    user = req.state.directory.user(record.username or "")
    if user is None:
        raise OAuthError("invalid_grant", 50034, "The signed-in user no longer exists.")
    sign_in = SignIn(
        user,
        req.state.directory.user_oid(user),
        record.tenant_id or user.tenant_id,
        record.amr,
        record.auth_time,
        record.tenant.policy,
        record.acrs,
    )
    scopes = parse_user_scopes(req.state.directory, record.scope)
    return issue_user_tokens(
        req, sign_in, scopes, record.scope, capabilities=client_capabilities(record.claims)
    )
