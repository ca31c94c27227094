"""``acquire_token_by_user_federated_identity_credential``: a user's tokens for an app
that presents a federated credential (the ``user_fic`` grant).

As in MSAL Python, every call asks the server (no cache lookup first); the tokens are
cached as the user's, with an account (``account_source`` ``user_fic``), so that
``acquire_token_silent`` serves them and redeems their refresh token afterwards. Tokens
obtained with ``forwarded_client_claims`` are cached under an extended cache key: only a
silent call with the same claims is served them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from identitylib._cache import compute_ext_cache_key
from identitylib._flows._state import AppState
from identitylib._log import REDACTED, get_logger
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow
from identitylib._protocol.grants import user_fic as user_fic_grant

from ._user_tokens import client_auth_fields, redeem

logger = get_logger(__name__)


def acquire_token_by_user_fic(
    state: AppState,
    assertion: str,
    scopes: Sequence[str],
    *,
    username: Optional[str] = None,
    user_object_id: Optional[str] = None,
    claims_challenge: Optional[str] = None,
    forwarded_client_claims: Optional[str] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> Flow[dict[str, Any]]:
    """Tokens of the user named by ``username`` or ``user_object_id`` for ``scopes``
    (already decorated), in exchange for the federated credential ``assertion``."""
    extra = dict(data or {})
    ext_cache_key = compute_ext_cache_key(
        {**extra, "client_claims": forwarded_client_claims} if forwarded_client_claims else extra
    )
    metadata = yield from state.authority.metadata_flow()
    correlation_id = state.new_correlation_id()
    logger.debug(
        "User federated credential grant for %s (correlation id %s)",
        (username or user_object_id) if state.enable_pii_log else REDACTED,
        correlation_id,
    )
    try:
        auth = client_auth_fields(state, metadata)
    except FlowError as failure:
        return {**failure.result, "correlation_id": correlation_id}
    fields = user_fic_grant.request_fields(
        client_id=state.client_id,
        assertion=assertion,
        scopes=scopes,
        client_auth=auth,
        username=username,
        user_object_id=user_object_id,
        claims=state.claims(claims_challenge, forwarded_client_claims),
        extra=extra,
    )
    request_headers = user_fic_grant.anchor_header(
        username=username, user_object_id=user_object_id, tenant=metadata.realm
    )
    request_headers.update(headers or {})
    return (
        yield from redeem(
            state,
            metadata,
            fields=fields,
            grant_type=user_fic_grant.GRANT_TYPE,
            scopes=scopes,
            correlation_id=correlation_id,
            headers=request_headers,
            event_extra={"ext_cache_key": ext_cache_key},
        )
    )
