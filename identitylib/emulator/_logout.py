"""The end-session endpoint: ``GET`` or ``POST {tenant}/oauth2/v2.0/logout`` (and
``{tenant}/{policy}/oauth2/v2.0/logout`` for a B2C user flow).

Parameters as Entra takes them: ``post_logout_redirect_uri``, ``client_id``,
``logout_hint``, ``state`` and ``id_token_hint`` (whose audience names the app when
``client_id`` does not). The browser goes back to ``post_logout_redirect_uri`` (with
``state``) only when it is a redirect URI registered on that app (loopback: any port, as
for sign-in); otherwise it is shown a "you signed out" page. Every sign-out is recorded
(``ProviderState.logouts``) so tests can see that the provider's logout was reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import jwt

from ._browser import html_reply, redirect_allowed, respond
from ._context import ProviderState
from ._directory import TenantRef
from ._pages import error_page, message_page
from ._records import Logout
from ._reply import Reply


def _text(params: Mapping[str, str], name: str) -> Optional[str]:
    value = params.get(name)
    return value if isinstance(value, str) and value.strip() else None


def hint_audience(state: ProviderState, tenant: TenantRef, hint: str) -> Optional[str]:
    """The ``aud`` of an ID token this emulator signed (expired ones too, as Entra takes
    them); None for anything else."""
    try:
        kid = str(jwt.get_unverified_header(hint).get("kid"))
        rings = [state.keys]
        if tenant.policy and tenant.tenant_id:
            rings.insert(0, state.policy_keys.ring(tenant.tenant_id, tenant.policy))
        key = next((k for ring in rings if (k := ring.find(kid)) is not None), None)
        if key is None:
            return None
        claims = jwt.decode(
            hint,
            key.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_nbf": False, "verify_aud": False},
        )
    except (jwt.PyJWTError, ValueError):
        return None
    audience = claims.get("aud")
    return audience if isinstance(audience, str) else None


def end_session(
    state: ProviderState, base_url: str, segment: str, params: Mapping[str, str]
) -> Reply:
    """Sign the user out: back to a registered ``post_logout_redirect_uri``, or a page."""
    tenant = state.directory.resolve_tenant(segment)
    if tenant is None:
        text = f"Tenant '{segment}' not found. Check the sign-out address."
        return html_reply(400, error_page(text, 90002))
    hint = _text(params, "id_token_hint")
    client_id = _text(params, "client_id")
    if client_id is None and hint is not None:
        client_id = hint_audience(state, tenant, hint)
    app = state.directory.app(client_id) if client_id else None
    target = _text(params, "post_logout_redirect_uri")
    back = target if target and app and redirect_allowed(app.redirect_uris, target) else None
    asked_state = _text(params, "state")
    state.logouts.add(
        Logout(
            tenant=segment,
            client_id=client_id,
            post_logout_redirect_uri=target,
            logout_hint=_text(params, "logout_hint"),
            state=asked_state,
            id_token_hint=hint is not None,
            redirected_to=back,
        )
    )
    if back is not None:
        return respond(back, "query", {"state": asked_state} if asked_state else {})
    page = message_page(
        "You signed out of your account", "It's a good idea to close all browser windows."
    )
    return html_reply(200, page)
