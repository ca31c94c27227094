"""The user federated identity credential grant (``grant_type=user_fic``; wire formats §7.7).

An app (typically an agent identity) presents a federated credential it holds, e.g. a
token issued to it for ``api://AzureADTokenExchange``, and names the user it acts for,
by UPN (``username``) or by object id (``user_id``); it gets that user's tokens. The app
authenticates as for any confidential grant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from identitylib._protocol._request import form_fields
from identitylib._protocol._scopes import to_wire

GRANT_TYPE = "user_fic"


def request_fields(
    *,
    client_id: str,
    assertion: str,
    scopes: Sequence[str],
    client_auth: Mapping[str, str],
    username: str | None = None,
    user_object_id: str | None = None,
    claims: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Body fields of a user-FIC token request (``scopes`` already decorated).

    Exactly one of ``username`` and ``user_object_id`` names the user (the caller checks).
    ``extra`` (the app's ``data=``) may add fields but never replaces the grant, the
    credential, the user, the client id or the client's credential.
    """
    user = {"user_id": user_object_id} if user_object_id else {"username": username}
    return form_fields(
        extra,
        {
            "grant_type": GRANT_TYPE,
            "client_id": client_id,
            "user_federated_identity_credential": assertion,
            **user,
            "scope": to_wire(scopes),
            "client_info": "1",
            "claims": claims,
        },
        client_auth,
    )


def anchor_header(
    *, username: str | None = None, user_object_id: str | None = None, tenant: str = ""
) -> dict[str, str]:
    """The CCS routing header of a user-FIC request: ``upn:<username>`` or
    ``Oid:<object id>@<tenant>`` (the authority's tenant segment), as MSAL sends it."""
    if user_object_id:
        return {"X-AnchorMailbox": f"Oid:{user_object_id}@{tenant}"}
    return {"X-AnchorMailbox": f"upn:{username}"}
