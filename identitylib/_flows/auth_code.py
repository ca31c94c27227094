"""The authorization code flow: the flow dict and its URL, then the code's redemption.

``initiate`` builds what MSAL calls the auth code flow: a JSON-serialisable dict holding
the state, PKCE verifier and nonce, plus the ``auth_uri`` the user's browser visits.
``redeem_auth_response`` takes that dict and the authorization response back: an ``iss``
mix-up check (RFC 9207), the error or the code, and the code redeemed through
:func:`~identitylib._flows._user_tokens.redeem`, which checks the ID token (nonce included)
before anything is cached. The caller's flow dict is only read, never changed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

from identitylib._authority import Authority
from identitylib._authority._metadata import OidcMetadata
from identitylib._flows._state import AppState
from identitylib._log import get_logger
from identitylib._protocol._errors import INVALID_AUTHORITY, FlowError, error_result
from identitylib._protocol._id_token import CLOCK_SKEW, nonce_hash
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse
from identitylib._protocol._pkce import Pkce
from identitylib._protocol._token_response import parse_token_response
from identitylib._protocol.grants import authorization_code as grant

from ._user_tokens import INVALID_ID_TOKEN, client_auth_fields, redeem

logger = get_logger(__name__)

#: Error code of a result whose authorization response came from another issuer (RFC 9207).
ISSUER_MISMATCH = "issuer_mismatch"


def _authorization_endpoint(metadata: OidcMetadata, authority: Authority) -> str:
    if not metadata.authorization_endpoint:
        raise FlowError(
            error_result(
                INVALID_AUTHORITY,
                f"The authority {authority.parsed.url} publishes no authorization_endpoint, "
                "so users cannot sign in through a browser with it",
            )
        )
    return metadata.authorization_endpoint


def new_auth_code_flow(
    state: AppState,
    metadata: OidcMetadata,
    scopes: Sequence[str],
    *,
    redirect_uri: Optional[str] = None,
    csrf_state: Optional[str] = None,
    prompt: Optional[str] = None,
    login_hint: Optional[str] = None,
    domain_hint: Optional[str] = None,
    claims_challenge: Optional[str] = None,
    max_age: Optional[int] = None,
    response_mode: Optional[str] = None,
    extra_params: Optional[Mapping[str, object]] = None,
) -> dict[str, Any]:
    """The flow dict for already-decorated ``scopes`` (no I/O: ``metadata`` is at hand)."""
    endpoint = _authorization_endpoint(metadata, state.authority)
    pkce = Pkce.new()
    nonce = secrets.token_urlsafe(16)
    csrf_state = csrf_state or secrets.token_urlsafe(16)
    params = grant.authorization_params(
        client_id=state.client_id,
        scopes=scopes,
        state=csrf_state,
        redirect_uri=redirect_uri,
        code_challenge=pkce.challenge,
        code_challenge_method=pkce.method,
        nonce=nonce_hash(nonce),
        login_hint=login_hint,
        prompt=prompt,
        domain_hint=domain_hint,
        claims=state.claims(claims_challenge),
        max_age=max_age,
        response_mode=response_mode,
        extra=extra_params,
    )
    flow: dict[str, Any] = {
        "state": csrf_state,
        "redirect_uri": redirect_uri,
        "scope": list(scopes),
        "auth_uri": grant.authorization_url(endpoint, params),
        "code_verifier": pkce.verifier,
        "nonce": nonce,
        "claims_challenge": claims_challenge,
    }
    if max_age is not None:
        flow["max_age"] = max_age
    return flow


def initiate(state: AppState, scopes: Sequence[str], **options: Any) -> Flow[dict[str, Any]]:
    """Discover the authorization endpoint if needed, then build the flow dict.

    ``options`` are the keyword arguments of :func:`new_auth_code_flow`.
    """
    metadata = yield from state.authority.metadata_flow()
    return new_auth_code_flow(state, metadata, scopes, **options)


def authorization_request_url(
    state: AppState,
    authority: Authority,
    scopes: Sequence[str],
    *,
    response_type: str = "code",
    csrf_state: Optional[str] = None,
    redirect_uri: Optional[str] = None,
    nonce: Optional[str] = None,
    claims_challenge: Optional[str] = None,
    login_hint: Optional[str] = None,
    prompt: Optional[str] = None,
    domain_hint: Optional[str] = None,
) -> Flow[dict[str, Any]]:
    """The deprecated ``get_authorization_request_url``: ``{"auth_uri": ...}``.

    No PKCE and the ``nonce`` sent as given, exactly as that API always did.
    """
    metadata = yield from authority.metadata_flow()
    endpoint = _authorization_endpoint(metadata, authority)
    params = grant.authorization_params(
        client_id=state.client_id,
        scopes=scopes,
        state=csrf_state or "",
        redirect_uri=redirect_uri,
        response_type=response_type,
        nonce=nonce,
        claims=state.claims(claims_challenge),
        login_hint=login_hint,
        prompt=prompt,
        domain_hint=domain_hint,
    )
    return {"auth_uri": grant.authorization_url(endpoint, params)}


def _auth_time_problem(response: HttpResponse, max_age: int, now: float) -> Optional[str]:
    """What is wrong with the ID token's ``auth_time`` for ``max_age``, if anything."""
    result = parse_token_response(response)
    claims = result.get("id_token_claims")
    if "error" in result or not isinstance(claims, dict):
        return None  # errors and ID-token-less answers are redeem()'s business
    auth_time = claims.get("auth_time")
    if isinstance(auth_time, bool) or not isinstance(auth_time, (int, float)):
        return "max_age was requested but the ID token carries no auth_time"
    if now - CLOCK_SKEW > auth_time + max_age:
        return (
            f"max_age was {max_age} s but the user last signed in {int(now - auth_time)} s "
            "ago: the identity provider did not make the user sign in again"
        )
    return None


def _stop_early(
    inner: Flow[dict[str, Any]],
    check: Callable[[HttpRequest, HttpResponse], Optional[dict[str, Any]]],
) -> Flow[dict[str, Any]]:
    """Run ``inner``; ``check`` sees each response first and may end the flow with a result
    before ``inner`` acts on it (caches tokens, for instance)."""
    try:
        step = next(inner)
        while True:
            try:
                response = yield step
            except Exception as exc:  # a transport failure: inner decides
                step = inner.throw(exc)
                continue
            if isinstance(step, HttpRequest):
                early = check(step, response)
                if early is not None:
                    return early
            step = inner.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        inner.close()


def redeem_code(
    state: AppState,
    code: str,
    scopes: Sequence[str],
    *,
    redirect_uri: Optional[str] = None,
    code_verifier: Optional[str] = None,
    nonce: Optional[str] = None,
    max_age: Optional[int] = None,
    claims: Optional[str] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> Flow[dict[str, Any]]:
    """Redeem ``code`` for tokens; the ID token must carry ``nonce`` when one is given."""
    metadata = yield from state.authority.metadata_flow()
    correlation_id = state.new_correlation_id()
    try:
        auth = client_auth_fields(state, metadata)
    except FlowError as failure:
        return {**failure.result, "correlation_id": correlation_id}
    fields = grant.request_fields(
        client_id=state.client_id,
        code=code,
        scopes=scopes,
        client_auth=auth,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        claims=claims,
        extra=data,
    )
    now = state.now()
    flow = redeem(
        state,
        metadata,
        fields=fields,
        grant_type=grant.GRANT_TYPE,
        scopes=scopes,
        correlation_id=correlation_id,
        headers=headers,
        nonce=nonce,
    )
    if max_age is None:
        return (yield from flow)

    def check(request: HttpRequest, response: HttpResponse) -> Optional[dict[str, Any]]:
        if request.url != metadata.token_endpoint:
            return None
        problem = _auth_time_problem(response, max_age, now)
        if problem is None:
            return None
        return error_result(INVALID_ID_TOKEN, problem, correlation_id=correlation_id)

    return (yield from _stop_early(flow, check))


def redeem_auth_response(
    state: AppState,
    auth_code_flow: Mapping[str, Any],
    auth_response: Mapping[str, str],
    scopes: Sequence[str],
    *,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> Flow[dict[str, Any]]:
    """The second half of the flow, once the caller checked the state and the scopes.

    ``auth_response`` is normalised (see :func:`grant.normalise_response`) and holds a
    ``code`` or an ``error``.
    """
    issuer = auth_response.get("iss")
    if issuer is not None:
        metadata = yield from state.authority.metadata_flow()
        if not grant.issuer_matches(metadata.issuer, issuer):
            logger.warning("Authorization response from another issuer refused (RFC 9207)")
            return error_result(
                ISSUER_MISMATCH,
                f"The authorization response was issued by {issuer!r}, not by this app's "
                f"authority ({metadata.issuer!r}); it may be a mix-up attack and was refused",
            )
    code = auth_response.get("code")
    if not code:
        return grant.error_of(auth_response)
    extra_headers = grant.routing_headers(auth_response.get("client_info"))
    extra_headers.update(headers or {})
    max_age = auth_code_flow.get("max_age")
    return (
        yield from redeem_code(
            state,
            code,
            scopes,
            redirect_uri=auth_code_flow.get("redirect_uri"),
            code_verifier=auth_code_flow.get("code_verifier"),
            nonce=auth_code_flow.get("nonce"),
            max_age=max_age if isinstance(max_age, int) and not isinstance(max_age, bool) else None,
            claims=state.claims(auth_code_flow.get("claims_challenge")),
            data=data,
            headers=extra_headers,
        )
    )
