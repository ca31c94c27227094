"""Redeeming a grant for user tokens: request, parse, check the ID token, cache, shape.

Every user flow (authorization code, device code, password, refresh token, on-behalf-of)
ends here, so they all check ID tokens and write the cache the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from identitylib._authority._metadata import OidcMetadata
from identitylib._cache import user_partition_key
from identitylib._cache._claims import home_account_id_from
from identitylib._flows._state import AppState
from identitylib._log import hide_secrets
from identitylib._protocol._errors import INVALID_CLIENT_CREDENTIAL, FlowError, error_result
from identitylib._protocol._id_token import check_id_token
from identitylib._protocol._messages import Flow
from identitylib._protocol._request import token_request
from identitylib._protocol._token_response import parse_token_response

from ._cache_hooks import in_cache
from ._shaping import cache_event, provider_result

#: Error code of a result whose ID token failed its checks.
INVALID_ID_TOKEN = "invalid_id_token"


def client_auth_fields(
    state: AppState, metadata: OidcMetadata, *, fmi_path: Optional[str] = None
) -> dict[str, str]:
    """The credential fields of a confidential app (none for a public one), secrets
    hidden; not to be changed (the fields of a credential whose fields are the same for
    every request are made once and kept in ``state``).

    Raises :class:`FlowError` with an error result when the credential fails.
    """
    credential = state.credential
    if credential is None:
        return {}
    fixed = credential.fixed_fields
    if fixed:
        kept = state.fixed_auth
        if kept is not None:
            return kept
    try:
        fields = hide_secrets(
            credential.auth_fields(
                client_id=state.client_id,
                token_endpoint=metadata.token_endpoint,
                is_adfs=state.authority.is_adfs,
                fmi_path=fmi_path,
            )
        )
    except ValueError as exc:
        raise FlowError(error_result(INVALID_CLIENT_CREDENTIAL, str(exc))) from None
    if fixed:
        state.fixed_auth = fields
    return fields


def redeem(
    state: AppState,
    metadata: OidcMetadata,
    *,
    fields: Mapping[str, str],
    grant_type: str,
    scopes: Sequence[str],
    correlation_id: str,
    headers: Optional[Mapping[str, str]] = None,
    nonce: Optional[str] = None,
    event_extra: Optional[Mapping[str, Any]] = None,
    partition_key: Optional[str] = None,
    hooks: Optional[bool] = None,
) -> Flow[dict[str, Any]]:
    """POST ``fields`` to the token endpoint and turn the answer into a result.

    A success has its ID token checked (audience, issuer, lifetime, ``nonce`` when given)
    and is written to the cache under ``partition_key`` (default: the user's home account,
    the suggested partition of user tokens); ``event_extra`` adds cache event keys (e.g.
    ``refresh_token_item``, ``user_assertion_hash``). ``hooks``: whether the cache has
    access hooks, when the caller knows it already (None: asked here).
    """
    now = state.now()
    token_endpoint = metadata.token_endpoint
    response = yield token_request(token_endpoint, fields, state.headers(correlation_id, headers))
    body = parse_token_response(
        response, correlation_id=correlation_id, requested_token_type=fields.get("token_type")
    )
    if "error" in body:
        return body
    claims = body.get("id_token_claims")
    if claims is not None:
        problem = check_id_token(
            claims, client_id=state.client_id, now=now, issuer=metadata.issuer, nonce=nonce
        )
        if problem:
            return error_result(INVALID_ID_TOKEN, problem, correlation_id=correlation_id)
    result = provider_result(body, now)  # (first: the event holds the body itself)
    event = cache_event(state, scopes, token_endpoint, grant_type, body, fields, event_extra)
    if hooks is None:
        hooks = state.cache_has_hooks()
    if hooks:
        partition = partition_key
        if partition is None:
            home_account_id = home_account_id_from(body.get("client_info"), claims or {})
            partition = user_partition_key(home_account_id) if home_account_id else None
        yield from in_cache(
            state.token_cache, partition, state.client_id, False,
            lambda: state.token_cache.add(event, now=now),
        )  # fmt: skip
    else:
        state.token_cache.add(event, now=now)  # (no hooks: in line)
    return result
