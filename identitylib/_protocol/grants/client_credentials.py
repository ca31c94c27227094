"""The client credentials grant (RFC 6749 §4.4): app-only tokens for daemons and services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from identitylib._log import hide
from identitylib._protocol._request import grant_fields
from identitylib._protocol._scopes import to_wire

GRANT_TYPE = "client_credentials"


def request_fields(
    *,
    client_id: str,
    scopes: Sequence[str],
    client_auth: Mapping[str, str],
    claims: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Body fields of a client credentials token request.

    ``extra`` (the app's ``data=``) may add fields but never replaces the grant type,
    the client id or the credential.
    """
    return grant_fields(
        extra,
        {
            "grant_type": GRANT_TYPE,
            "client_id": client_id,
            "scope": to_wire(scopes),
            "client_info": "1",
            "claims": hide(claims) if claims else None,
        },
        client_auth,
    )
