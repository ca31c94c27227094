"""Device authorization (RFC 8628): ``/devicecode`` and the ``/devicelogin`` pages.

Polling lives in ``_grants/device_code.py``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from ._browser import html_reply
from ._challenges import parse_claims, requested_acrs, sign_in_amr
from ._client_auth import requested_client_id
from ._consent import permissions_of
from ._context import ProviderState, check_password, field
from ._errors import OAuthError, missing_parameter
from ._pages import device_login_page, message_page
from ._records import DeviceAuthorization, UserCodeIndex
from ._reply import Reply
from ._resources import parse_user_scopes
from ._token_endpoint import find_app, guarded, lower_keys, resolve

USER_CODE_ALPHABET = string.ascii_uppercase + string.digits
USER_CODE_LENGTH = 9


def verification_uri(base_url: str) -> str:
    return f"{base_url}/devicelogin"


def _new_user_code(state: ProviderState) -> str:
    while True:
        code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        if state.user_codes.get(code) is None:
            return code


def start(
    state: ProviderState,
    base_url: str,
    segment: str,
    form: Mapping[str, str],
    headers: Mapping[str, str],
) -> Reply:
    """``POST /{tenant}/oauth2/v2.0/devicecode``: a user code and a device code."""
    headers = lower_keys(headers)

    def body() -> dict[str, Any]:
        tenant = resolve(state, segment)
        app = find_app(state, requested_client_id(form, headers), tenant)
        if not app.allow_public_client_flows:
            raise OAuthError(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'. (Public client flows are not allowed for this app.)",
            )
        scope = field(form, "scope")
        if scope is None:
            raise missing_parameter("scope")
        parse_user_scopes(state.directory, scope)
        claims = parse_claims(field(form, "claims"))
        now = state.clock()
        lifetime = int(state.config.device_code_lifetime)
        interval = int(state.config.device_code_interval)
        device_code = "DAQAB" + secrets.token_urlsafe(48)
        with state.user_codes.lock:
            user_code = _new_user_code(state)
            state.user_codes.put(user_code, UserCodeIndex(device_code, now + lifetime))
        state.devices.put(
            device_code,
            DeviceAuthorization(
                device_code,
                user_code,
                app.client_id,
                scope,
                claims,
                tenant,
                interval,
                now + lifetime,
            ),
        )
        uri = verification_uri(base_url)
        return {
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": lifetime,
            "interval": interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the "
            f"code {user_code} to authenticate.",
        }

    return guarded(state, base_url, headers, body)


def login_page(state: ProviderState, base_url: str, params: Mapping[str, str]) -> Reply:
    """``GET /devicelogin`` (``user_code`` or ``otc`` query prefill the code)."""
    code = field(params, "user_code") or field(params, "otc") or ""
    return html_reply(200, device_login_page(verification_uri(base_url), user_code=code))


def _normalise(user_code: str) -> str:
    return "".join(c for c in user_code.upper() if c.isalnum())


def login(state: ProviderState, base_url: str, form: Mapping[str, str]) -> Reply:
    """``POST /devicelogin``: approve (sign in) or decline a pending device code."""
    action = verification_uri(base_url)
    user_code = _normalise(field(form, "user_code") or "")
    username = (field(form, "username") or "").strip()

    def again(error: str) -> Reply:
        page = device_login_page(action, user_code=user_code, username=username, error=error)
        return html_reply(200, page)

    now = state.clock()
    index = state.user_codes.get(user_code) if user_code else None
    record = state.devices.get(index.device_code) if index else None
    if record is None or record.expires_at <= now:
        return again("That code didn't work. Check the code and try again.")
    if field(form, "action") == "decline":
        with state.devices.lock:
            if record.status == "pending":
                record.status = "declined"
        return html_reply(
            200, message_page("Request declined", "You declined to sign in on the device.")
        )
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    try:
        user = check_password(state, username, str(password))
        acrs = requested_acrs(record.claims)
        signed_in = state.sign_in(user, record.tenant, sign_in_amr(record.claims), int(now), acrs)
    except OAuthError as err:
        return again(err.text)
    with state.devices.lock:
        if record.status != "pending":
            return again("This code has already been used.")
        record.status = "approved"
        record.username = user.username
        record.tenant_id = signed_in.tenant_id
        record.amr = signed_in.amr
        record.auth_time = signed_in.auth_time
        record.acrs = signed_in.acrs
    # Approving the device's request is consenting to what it asked for.
    scopes = parse_user_scopes(state.directory, record.scope)
    wanted = permissions_of(scopes, only_consent_required=True)
    state.consents.grant(signed_in.oid, record.client_id, wanted)
    app = state.directory.app(record.client_id)
    name = app.name if app and app.name else record.client_id
    return html_reply(
        200,
        message_page(
            "You're signed in",
            f"You have signed in to the {name} application on your device. "
            "You may now close this window.",
        ),
    )
