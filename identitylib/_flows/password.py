"""``acquire_token_by_username_password``: the resource owner password credentials grant,
or, for a federated user, WS-Trust and a SAML bearer grant.

As MSAL does, the flow first asks the authority's host for the user's realm (Entra ID and
External ID authorities; see ``Authority.user_realm_flow``). A managed user's password goes
to the token endpoint (``grant_type=password``). A federated user's password goes to the
federation server (``_federation.py``), and the SAML assertion it issues goes to the token
endpoint (``grant_type=urn:ietf:params:oauth:grant-type:saml1_1-bearer`` or
``...:saml2-bearer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from identitylib._authority._metadata import OidcMetadata
from identitylib._authority._user_realm import UserRealm
from identitylib._flows._state import AppState
from identitylib._log import REDACTED, get_logger
from identitylib._protocol._errors import INVALID_RESPONSE, error_result
from identitylib._protocol._messages import Flow
from identitylib._protocol.federation.rstr import MAX_SHOWN
from identitylib._protocol.grants import password as password_grant
from identitylib._protocol.grants import saml_bearer

from ._federation import saml_assertion
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
    shown = username if state.enable_pii_log else REDACTED
    realm = yield from state.authority.user_realm_flow(username, correlation_id)
    if realm is not None and realm.is_federated:
        logger.debug("Federated sign-in for %s (correlation id %s)", shown, correlation_id)
        return (
            yield from _federated(
                state,
                metadata,
                realm,
                username,
                password,
                scopes,
                correlation_id=correlation_id,
                claims_challenge=claims_challenge,
                data=data,
                headers=headers,
            )
        )
    logger.debug("Password grant for %s (correlation id %s)", shown, correlation_id)
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


def _federated(
    state: AppState,
    metadata: OidcMetadata,
    realm: UserRealm,
    username: str,
    password: str,
    scopes: Sequence[str],
    *,
    correlation_id: str,
    claims_challenge: Optional[str],
    data: Optional[Mapping[str, Any]],
    headers: Optional[Mapping[str, str]],
) -> Flow[dict[str, Any]]:
    """WS-Trust for a SAML assertion, then the SAML bearer grant."""
    assertion = yield from saml_assertion(state, realm, username, password, correlation_id)
    grant_type = saml_bearer.grant_type_for(assertion.token_type)
    if grant_type is None:
        return error_result(
            INVALID_RESPONSE,
            f"The federation server issued a token of type "
            f"{assertion.token_type[:MAX_SHOWN]!r}, which is not a SAML assertion",
            correlation_id=correlation_id,
        )
    fields = saml_bearer.request_fields(
        client_id=state.client_id,
        grant_type=grant_type,
        assertion=assertion.assertion,
        scopes=scopes,
        client_auth=client_auth_fields(state, metadata),
        claims=state.claims(claims_challenge),
        extra=data,
    )
    return (
        yield from redeem(
            state,
            metadata,
            fields=fields,
            grant_type=grant_type,
            scopes=scopes,
            correlation_id=correlation_id,
            headers=headers,
            event_extra={"username": username},
        )
    )
