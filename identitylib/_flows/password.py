"""``acquire_token_by_username_password``: the resource owner password credentials grant.

No user-realm discovery and no WS-Trust: a federated user's sign-in fails with the
server's error (Entra answers ``invalid_grant`` / AADSTS50126 or a federation hint).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from identitylib._application._state import AppState
from identitylib._log import REDACTED, get_logger
from identitylib._protocol._messages import Flow
from identitylib._protocol.grants import password as password_grant

from ._user_tokens import client_auth_fields, redeem

logger = get_logger(__name__)


def acquire_token_by_username_password(
    state: AppState,
    username: str,
    password: str,
    scopes: Sequence[str],
    *,
    claims_challenge: Optional[str] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> Flow[dict[str, Any]]:
    """Sign ``username`` in with ``password`` for ``scopes`` (already decorated)."""
    metadata = yield from state.authority.metadata_flow()
    correlation_id = state.new_correlation_id()
    logger.debug(
        "Password grant for %s (correlation id %s)",
        username if state.enable_pii_log else REDACTED,
        correlation_id,
    )
    fields = password_grant.request_fields(
        client_id=state.client_id,
        username=username,
        password=password,
        scopes=scopes,
        client_auth=client_auth_fields(state, metadata),
        claims=state.claims(claims_challenge),
        extra=data,
    )
    request_headers = password_grant.anchor_header(username)
    request_headers.update(headers or {})
    return (
        yield from redeem(
            state,
            metadata,
            fields=fields,
            grant_type=password_grant.GRANT_TYPE,
            scopes=scopes,
            correlation_id=correlation_id,
            headers=request_headers,
            event_extra={"username": username},
        )
    )
