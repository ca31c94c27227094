"""User federated identity credential (``acquire_token_by_user_federated_identity_credential``)."""

from __future__ import annotations

import uuid
from typing import Any, Optional

from identitylib._flows import user_fic as user_fic_flow
from identitylib._log import hide
from identitylib._protocol._request import check_ssh_cert_data
from identitylib._protocol._scopes import decorate, validate_scopes

from ._core import AppCore


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


class UserFicMixin(AppCore):
    """``acquire_token_by_user_federated_identity_credential`` (MSAL 1.39)."""

    def acquire_token_by_user_federated_identity_credential(
        self,
        scopes: list[str],
        assertion: str,
        username: Optional[str] = None,
        user_object_id: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A user's tokens for ``scopes``, in exchange for a federated credential the app
        holds (``assertion``, e.g. an agent's token for ``api://AzureADTokenExchange``):
        the ``user_fic`` grant.

        Name the user by ``username`` (UPN) or by ``user_object_id``, not both. Every call
        asks the server; the tokens are cached as the user's, with an account, so
        :meth:`acquire_token_silent` serves and refreshes them afterwards. Tokens obtained
        with ``forwarded_client_claims`` (a JSON object string, merged into the request's
        ``claims``) are served only to silent calls that pass the same claims.
        ``ValueError`` before any request for an empty assertion, neither or both user
        identifiers, reserved scopes (``openid``, ``profile``, ``offline_access``) or
        malformed claims. Returns a token dict or an error dict.
        """
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
        self._state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        scope_list = decorate(validate_scopes(scopes), self._state.exclude_scopes)
        data = kwargs.pop("data", None)
        check_ssh_cert_data(data)
        assertion = hide(assertion.strip())  # '***' in the locals a crash reporter prints
        return self._run(
            user_fic_flow.acquire_token_by_user_fic(
                self._state,
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
