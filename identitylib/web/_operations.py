"""The web app's operations, written once as generators (see ``_steps.py``).

Each function takes the web session (a mutable mapping) and the operation's inputs, yields
the application and store calls it needs, and returns what the adapter acts on: a URL to
redirect to, a :class:`SignedIn`, a token result. Protocol details (PKCE, nonce, state,
the ID token's checks) are the application's; these add the web app's part: binding a
sign-in to the browser session, keeping the pending sign-in on the server, the return URL,
what the session keeps, and the sign-out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlencode

from identitylib._cache._claims import account_of
from identitylib._log import get_logger

from . import _session
from ._errors import SignInFailed, SignInRequired, TokenAcquisitionError
from ._session import Session, User
from ._steps import AppCall, EndSession, StoreCall, WebFlow
from ._store import PENDING_TTL

logger = get_logger(__name__)

#: Errors of a silent token request that a new sign-in can fix (consent, MFA, a revoked or
#: expired refresh token): the user is sent through sign-in rather than shown an error.
INTERACTION_ERRORS = frozenset(
    {"interaction_required", "invalid_grant", "consent_required", "login_required"}
)

#: Prefix of the store key under which a form_post response waits for its GET.
RESPONSE_PREFIX = "response:"


@dataclass(frozen=True)
class SignInOptions:
    """What a sign-in asks the provider for."""

    scopes: Sequence[str] = ()
    claims_challenge: Optional[str] = None
    prompt: Optional[str] = None
    login_hint: Optional[str] = None
    domain_hint: Optional[str] = None
    user_flow: Optional[str] = None  #: a B2C user flow other than sign-up/sign-in


@dataclass(frozen=True)
class SignedIn:
    """A completed sign-in: the user and the page to return to."""

    user: User
    return_to: str
    user_flow: Optional[str] = None


def begin_sign_in(
    session: Session,
    *,
    redirect_uri: str,
    return_to: str,
    options: SignInOptions,
    response_mode: str,
) -> WebFlow[str]:
    """Start a sign-in; returns the provider's URL to send the browser to."""
    flow = yield AppCall(
        "initiate_auth_code_flow",
        (list(options.scopes),),
        {
            "redirect_uri": redirect_uri,
            "prompt": options.prompt,
            "login_hint": options.login_hint,
            "domain_hint": options.domain_hint,
            "claims_challenge": options.claims_challenge,
            "response_mode": response_mode,
        },
        options.user_flow,
    )
    state = str(flow["state"])
    pending = {"flow": flow, "return_to": return_to, "user_flow": options.user_flow}
    yield StoreCall("put", (state, pending, PENDING_TTL))
    _session.add_pending(session, state)
    return str(flow["auth_uri"])


def keep_form_post(form: Mapping[str, str]) -> WebFlow[str]:
    """The first half of a ``form_post`` return: the provider's cross-site POST carries no
    session cookie (``SameSite=Lax``), so its fields wait on the server under their
    ``state`` and the browser is sent on, by a same-site GET, to :func:`complete_sign_in`.
    Returns the ``state`` (a random value, no secret) for that GET's query."""
    state = form.get("state")
    if not isinstance(state, str) or not state:
        raise SignInFailed("invalid_request", "the sign-in response has no state")
    fields = {str(k): str(v) for k, v in form.items()}
    yield StoreCall("put", (RESPONSE_PREFIX + state, fields, PENDING_TTL))
    return state


def complete_sign_in(
    session: Session, state: Optional[str], response: Optional[Mapping[str, str]]
) -> WebFlow[SignedIn]:
    """Finish a sign-in with the provider's response (None: the one kept by
    :func:`keep_form_post` under ``state``); the user is then in the session."""
    if not isinstance(state, str) or not state:
        raise SignInFailed("invalid_request", "the sign-in response has no state")
    if not _session.take_pending(session, state):
        # Not started in this browser (login CSRF), already used, or the session expired.
        yield StoreCall("delete", (RESPONSE_PREFIX + state,))
        raise SignInFailed("invalid_request", "this sign-in was not started in this session")
    pending = yield StoreCall("take", (state,))
    if response is None:
        response = yield StoreCall("take", (RESPONSE_PREFIX + state,))
    if not pending or not response:
        raise SignInFailed("invalid_request", "this sign-in has expired or was already used")
    if "error" in response:
        raise SignInFailed(str(response["error"]), str(response.get("error_description", "")))
    user_flow = pending.get("user_flow")
    try:
        result = yield AppCall(
            "acquire_token_by_auth_code_flow", (pending["flow"], dict(response)), {}, user_flow
        )
    except ValueError as refused:  # a response that does not belong to its flow
        raise SignInFailed("invalid_request", str(refused)) from None
    if "error" in result:
        raise SignInFailed(str(result["error"]), str(result.get("error_description", "")))
    claims = result.get("id_token_claims") or {}
    # From the result itself: a cache partitioned per user could not list the account yet.
    account = account_of(result)
    if account is None:
        raise SignInFailed("invalid_response", "the sign-in gave no account for the user")
    # A fresh start for the signed-in session: nothing from before the sign-in is kept.
    _session.forget_everything(session)
    user = _session.remember_user(session, account, claims)
    return_to = _session.safe_return_url(pending.get("return_to"))
    return SignedIn(user, return_to, user_flow)


def token_for_user(
    session: Session, scopes: Sequence[str], claims_challenge: Optional[str] = None
) -> WebFlow[dict[str, Any]]:
    """A token for the signed-in user, from the cache or a refresh token; raises
    :class:`SignInRequired` when only a new sign-in can give one (not signed in, tokens
    gone, consent or MFA needed) and :class:`TokenAcquisitionError` for other failures."""
    user = _session.user_of(session)
    if user is None:
        raise SignInRequired(scopes, claims_challenge=claims_challenge, reason="not signed in")
    result = yield AppCall(
        "acquire_token_silent_with_error",
        (list(scopes), dict(user.account)),
        {"claims_challenge": claims_challenge},
    )
    if result and "access_token" in result:
        return dict(result)
    if not result or result.get("error") in INTERACTION_ERRORS:
        raise SignInRequired(
            scopes,
            claims_challenge=(result or {}).get("claims") or claims_challenge,
            reason=str((result or {}).get("error") or "no token in the cache for these scopes"),
        )
    raise TokenAcquisitionError(dict(result))


def sign_out(
    session: Session, *, client_id: str, post_logout_redirect_uri: str
) -> WebFlow[str]:
    """Sign the user out of the app (session and token cache) and return the provider's
    end-session URL to send the browser to (``post_logout_redirect_uri`` when the provider
    has none)."""
    user = _session.user_of(session)
    _session.forget_everything(session)
    if user is not None:
        yield AppCall("remove_account", (dict(user.account),))
    try:
        endpoint = yield EndSession()
    except Exception as unreachable:  # signed out of the app all the same
        logger.warning("No sign-out at the provider: %s", type(unreachable).__name__)
        endpoint = None
    if not endpoint:
        return post_logout_redirect_uri
    query = {"post_logout_redirect_uri": post_logout_redirect_uri, "client_id": client_id}
    hint = user.claims.get("login_hint") if user is not None else None
    if isinstance(hint, str) and hint:
        query["logout_hint"] = hint
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(query)}"
