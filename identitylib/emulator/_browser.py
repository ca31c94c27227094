"""``/authorize``: validation, the sign-in page, and the code sent to the redirect URI.

Errors that cannot be trusted to the redirect URI (unknown tenant or client, bad redirect
URI) are a 400 HTML page; the others go to the redirect URI in the chosen response mode.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Optional
from urllib.parse import urlencode, urlsplit, urlunsplit

from ._challenges import parse_claims, requested_acrs, sign_in_amr
from ._config import App
from ._consent import describe, missing, permissions_of
from ._context import ProviderState, check_password, field
from ._directory import TenantRef
from ._errors import (
    OAuthError,
    correlation_of,
    error_fields,
    missing_parameter,
    timestamp,
    unknown_tenant,
)
from ._pages import consent_page, error_page, form_post_page, sign_in_page
from ._records import AuthCode, Transaction
from ._reply import Reply
from ._resources import parse_user_scopes
from ._tokens import SignIn, client_info_of

#: Seconds a sign-in page stays usable.
TRANSACTION_LIFETIME = 3600
#: The sign-in page's heading per B2C user-flow kind.
USER_FLOW_TITLES = {
    "sign_up_sign_in": "Sign in",
    "sign_in": "Sign in",
    "profile_edit": "Edit your profile",
    "password_reset": "Reset your password",
}
#: The action of the "Forgot your password?" link of a B2C sign-up/sign-in page.
FORGOT_PASSWORD = "forgot_password"
RESPONSE_MODES = ("query", "fragment", "form_post")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_PAGE_HEADERS = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def html_reply(status: int, html: str) -> Reply:
    return Reply(status, html=html, headers=dict(_PAGE_HEADERS))


def redirect_allowed(registered: list[str], uri: str) -> bool:
    """Exact match, or any port for an ``http`` loopback registration (RFC 8252 §7.3)."""
    if uri in registered:
        return True
    try:
        asked = urlsplit(uri)
        if asked.scheme != "http" or asked.hostname not in LOOPBACK_HOSTS:
            return False
        for candidate in registered:
            known = urlsplit(candidate)
            if (
                known.scheme == "http"
                and known.hostname == asked.hostname
                and (known.path or "/") == (asked.path or "/")
                and known.query == asked.query
            ):
                return True
    except ValueError:
        return False
    return False


def respond(redirect_uri: str, mode: str, fields: dict[str, str]) -> Reply:
    """Deliver ``fields`` to the redirect URI: 302 (query/fragment) or form_post page."""
    if mode == "form_post":
        return html_reply(200, form_post_page(redirect_uri, fields))
    encoded = urlencode(fields)
    if mode == "fragment":
        location = f"{redirect_uri.split('#', 1)[0]}#{encoded}"
    else:
        parts = urlsplit(redirect_uri)
        query = f"{parts.query}&{encoded}" if parts.query else encoded
        location = urlunsplit(parts._replace(query=query, fragment=""))
    return Reply(302, location=location, headers=dict(_PAGE_HEADERS))


def error_redirect(
    err: OAuthError,
    redirect_uri: str,
    mode: str,
    state: Optional[str],
    *,
    now: float,
    correlation_id: str,
    subcode: Optional[str] = None,
) -> Reply:
    """An OAuth error delivered to the client (``error``, ``error_description``, ``state``)."""
    envelope = error_fields(
        err, base_url=None, correlation_id=correlation_id, trace_id=str(uuid.uuid4()), now=now
    )
    fields = {"error": err.error, "error_description": envelope["error_description"]}
    if subcode:
        fields["error_subcode"] = subcode
    if state is not None:
        fields["state"] = state
    return respond(redirect_uri, mode, fields)


def authorize(
    state: ProviderState, base_url: str, segment: str, params: Mapping[str, str]
) -> Reply:
    """Validate an authorization request and show the sign-in page (or an error)."""
    tenant = state.directory.resolve_tenant(segment)
    if tenant is None:
        return html_reply(400, error_page(unknown_tenant(segment, discovery=False).text, 90002))
    client_id = field(params, "client_id")
    app = state.directory.app(client_id) if client_id else None
    if app is None:
        text = f"Application with identifier '{client_id}' was not found in the directory."
        return html_reply(400, error_page(text, 900144 if client_id is None else 700016))
    redirect_uri = field(params, "redirect_uri")
    if redirect_uri is None or not redirect_allowed(app.redirect_uris, redirect_uri):
        text = (
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{app.client_id}'."
        )
        return html_reply(400, error_page(text, 50011))
    mode = field(params, "response_mode") or "query"
    asked_state = params.get("state") if isinstance(params.get("state"), str) else None
    now = state.clock()
    try:
        if mode not in RESPONSE_MODES:
            mode = "query"
            raise OAuthError("invalid_request", 9002313, "Invalid response_mode.")
        txn = _transaction(state, tenant, app.client_id, redirect_uri, mode, params, now)
    except OAuthError as err:
        return error_redirect(
            err, redirect_uri, mode, asked_state, now=now, correlation_id=correlation_of(params)
        )
    txn_id = secrets.token_urlsafe(24)
    state.transactions.put(txn_id, txn)
    return html_reply(200, _sign_in_page(base_url, segment, txn_id, txn, app))


def _sign_in_page(
    base_url: str,
    segment: str,
    txn_id: str,
    txn: Transaction,
    app: App,
    *,
    username: Optional[str] = None,
    error: Optional[str] = None,
) -> str:
    """The sign-in page of a transaction, as its tenant or B2C user flow shows it."""
    action = f"{base_url}/{segment}/oauth2/v2.0/authorize"
    kind = txn.tenant.policy_kind
    forgot = None
    if kind == "sign_up_sign_in":
        forgot = f"{action}?{urlencode({'txn': txn_id, 'action': FORGOT_PASSWORD})}"
    return sign_in_page(
        action,
        txn_id,
        app.name or app.client_id,
        username=txn.login_hint if username is None else username,
        error=error,
        title=USER_FLOW_TITLES.get(kind or "", "Sign in"),
        forgot_password_url=forgot,
    )


def _transaction(
    state: ProviderState,
    tenant: TenantRef,
    client_id: str,
    redirect_uri: str,
    mode: str,
    params: Mapping[str, str],
    now: float,
) -> Transaction:
    response_type = field(params, "response_type")
    if response_type is None:
        raise missing_parameter("response_type")
    if response_type.strip() != "code":
        raise OAuthError(
            "unsupported_response_type",
            700054,
            f"response_type '{response_type}' is not enabled for the application.",
        )
    scope = field(params, "scope")
    if scope is None:
        raise missing_parameter("scope")
    parse_user_scopes(state.directory, scope)
    claims = parse_claims(field(params, "claims"))
    challenge = field(params, "code_challenge")
    method = field(params, "code_challenge_method")
    if method is not None and method not in ("S256", "plain"):
        raise OAuthError("invalid_request", 9002313, "Invalid code_challenge_method.")
    if field(params, "prompt") == "none":
        raise OAuthError(
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        )
    return Transaction(
        tenant=tenant,
        client_id=client_id,
        redirect_uri=redirect_uri,
        response_mode=mode,
        scope=scope,
        state=params.get("state") if isinstance(params.get("state"), str) else None,
        nonce=field(params, "nonce"),
        code_challenge=challenge,
        code_challenge_method=(method or "plain") if challenge else None,
        claims=claims,
        want_client_info=field(params, "client_info") == "1",
        login_hint=field(params, "login_hint") or "",
        expires_at=now + TRANSACTION_LIFETIME,
        prompt=field(params, "prompt"),
    )


def sign_in(state: ProviderState, base_url: str, segment: str, form: Mapping[str, str]) -> Reply:
    """Handle the sign-in page's POST (and the consent page's): a code for the client, the
    consent page, or the sign-in page again."""
    txn_id = field(form, "txn")
    txn = state.transactions.get(txn_id) if txn_id else None
    now = state.clock()
    if txn is None or txn.expires_at <= now:
        text = "The sign-in session is unknown or has expired. Start again from the application."
        return html_reply(400, error_page(text))
    app = state.directory.app(txn.client_id)
    correlation_id = correlation_of(form)
    if app is None or field(form, "action") == "decline":
        state.transactions.pop(str(txn_id))
        err = OAuthError("access_denied", 65004, "User declined to consent to access the app.")
        return error_redirect(
            err,
            txn.redirect_uri,
            txn.response_mode,
            txn.state,
            now=now,
            correlation_id=correlation_id,
            subcode="cancel",
        )
    if field(form, "action") == "accept":
        return _accept_consent(state, str(txn_id), txn)
    username = (field(form, "username") or "").strip()
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    try:
        user = check_password(state, username, str(password))
        amr, acrs = sign_in_amr(txn.claims), requested_acrs(txn.claims)
        signed_in = state.sign_in(user, txn.tenant, amr, int(now), acrs)
    except OAuthError as err:
        page = _sign_in_page(
            base_url, segment, str(txn_id), txn, app, username=username, error=err.text
        )
        return html_reply(200, page)
    wanted = _consent_to_ask(state, txn, signed_in)
    if wanted is not None:
        txn.signed_in = signed_in
        action = f"{base_url}/{segment}/oauth2/v2.0/authorize"
        name = app.name or app.client_id
        return html_reply(200, consent_page(action, str(txn_id), name, user.username, wanted))
    return _issue_code(state, str(txn_id), txn, signed_in)


def _consent_to_ask(
    state: ProviderState, txn: Transaction, signed_in: SignIn
) -> Optional[list[str]]:
    """The permissions the consent page must list (None: no consent step). B2C user flows
    have no user consent; ``prompt=consent`` always asks."""
    if txn.tenant.policy:
        return None
    scopes = parse_user_scopes(state.directory, txn.scope)
    needed = missing(state.consents, signed_in.oid, txn.client_id, scopes)
    if needed:
        return needed
    if txn.prompt == "consent":
        return [describe(scopes, p) for p in permissions_of(scopes, only_consent_required=False)]
    return None


def _accept_consent(state: ProviderState, txn_id: str, txn: Transaction) -> Reply:
    """The consent page's Accept: record the consent, then the code."""
    if txn.signed_in is None:
        text = "Sign in before consenting. Start again from the application."
        return html_reply(400, error_page(text))
    scopes = parse_user_scopes(state.directory, txn.scope)
    granted = permissions_of(scopes, only_consent_required=False)
    state.consents.grant(txn.signed_in.oid, txn.client_id, granted)
    return _issue_code(state, txn_id, txn, txn.signed_in)


def _issue_code(state: ProviderState, txn_id: str, txn: Transaction, signed_in: SignIn) -> Reply:
    """End the transaction with an authorization code sent to the redirect URI."""
    if state.transactions.pop(txn_id) is None:  # already answered (a double submit)
        text = "The sign-in session is unknown or has expired. Start again from the application."
        return html_reply(400, error_page(text))
    now = state.clock()
    code = secrets.token_urlsafe(48)
    state.codes.put(
        code,
        AuthCode(
            client_id=txn.client_id,
            redirect_uri=txn.redirect_uri,
            scope=txn.scope,
            nonce=txn.nonce,
            code_challenge=txn.code_challenge,
            code_challenge_method=txn.code_challenge_method,
            claims=txn.claims,
            username=signed_in.user.username,
            tenant=txn.tenant,
            tenant_id=signed_in.tenant_id,
            amr=signed_in.amr,
            auth_time=signed_in.auth_time,
            expires_at=now + state.config.code_lifetime,
            acrs=signed_in.acrs,
        ),
    )
    fields = {"code": code}
    if txn.state is not None:
        fields["state"] = txn.state
    fields["session_state"] = str(uuid.uuid4())
    if txn.want_client_info:
        fields["client_info"] = client_info_of(signed_in)
    return respond(txn.redirect_uri, txn.response_mode, fields)


def forgot_password(
    state: ProviderState, base_url: str, segment: str, params: Mapping[str, str]
) -> Reply:
    """The "Forgot your password?" link of a B2C sign-up/sign-in page: the app gets
    ``access_denied`` with AADB2C90118 and is expected to start its password-reset flow."""
    txn_id = field(params, "txn")
    txn = state.transactions.get(txn_id) if txn_id else None
    now = state.clock()
    if (
        txn is None
        or txn.expires_at <= now
        or field(params, "action") != FORGOT_PASSWORD
        or txn.tenant.policy_kind != "sign_up_sign_in"
    ):
        text = "The sign-in session is unknown or has expired. Start again from the application."
        return html_reply(400, error_page(text))
    state.transactions.pop(str(txn_id))
    description = (
        "AADB2C90118: The user has forgotten their password.\r\n"
        f"Correlation ID: {correlation_of(params)}\r\nTimestamp: {timestamp(now)}\r\n"
    )
    fields = {"error": "access_denied", "error_description": description}
    if txn.state is not None:
        fields["state"] = txn.state
    return respond(txn.redirect_uri, txn.response_mode, fields)
