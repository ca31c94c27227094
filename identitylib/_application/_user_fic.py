"""User federated identity credential (``acquire_token_by_user_federated_identity_credential``)."""

from __future__ import annotations

import uuid
from typing import Any, Optional

from identitylib._log import hide
from identitylib._protocol._request import check_ssh_cert_data
from identitylib._protocol._scopes import decorate, validate_scopes

from ._core import AppCore
from ._plan import Plan, run


def _user_object_id(value: object) -> Optional[str]:
    """The object id as text (a ``uuid.UUID`` is accepted); None when not given."""
    if not value:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("user_object_id must be the user's object id (a GUID string)")
    return value.strip()


def _username(value: object) -> Optional[str]:
    if not value:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("username must be the user's sign-in name (UPN), a string")
    return value.strip()


class UserFicCalls(AppCore):
    """The builder of ``acquire_token_by_user_federated_identity_credential`` (MSAL 1.39)."""

    def acquire_token_by_user_federated_identity_credential(
        self,
        scopes: list[str],
        assertion: str,
        username: Optional[str] = None,
        user_object_id: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> Plan[dict[str, Any]]:
        if not isinstance(assertion, str) or not assertion.strip():
            raise ValueError(
                "assertion must be the federated identity credential (a non-empty token string)"
            )
        user = _username(username)
        object_id = _user_object_id(user_object_id)
        if user is None and object_id is None:
            raise ValueError("Name the user: pass username (a UPN) or user_object_id")
        if user is not None and object_id is not None:
            raise ValueError("username and user_object_id are mutually exclusive: pass one")
        if forwarded_client_claims is not None and not isinstance(forwarded_client_claims, str):
            raise ValueError("forwarded_client_claims must be a JSON object string")
        self.state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        scope_list = decorate(validate_scopes(scopes), self.state.exclude_scopes)
        data = kwargs.pop("data", None)
        check_ssh_cert_data(data)
        assertion = hide(assertion.strip())  # '***' in the locals a crash reporter prints
        from identitylib._flows import user_fic as user_fic_flow  # loaded on first use

        return run(
            user_fic_flow.acquire_token_by_user_fic(
                self.state,
                assertion,
                scope_list,
                username=user,
                user_object_id=object_id,
                claims_challenge=claims_challenge,
                forwarded_client_claims=forwarded_client_claims,
                data=data,
                headers=kwargs.pop("headers", None),
            )
        )
