"""The on-behalf-of grant (RFC 7523 jwt-bearer; wire formats §7.6): a middle-tier web API
exchanges the user's incoming access token for tokens to a downstream API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from identitylib._log import hide
from identitylib._protocol._request import grant_fields
from identitylib._protocol._scopes import to_wire

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REQUESTED_TOKEN_USE = "on_behalf_of"


def request_fields(
    *,
    client_id: str,
    user_assertion: str,
    scopes: Sequence[str],
    client_auth: Mapping[str, str],
    claims: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Body fields of an on-behalf-of token request (``scopes`` already decorated).

    ``extra`` (the app's ``data=``) may add fields but never replaces the grant, the
    assertion, the client id or the credential.
    """
    return grant_fields(
        extra,
        {
            "grant_type": GRANT_TYPE,
            "client_id": client_id,
            "assertion": hide(user_assertion),
            "requested_token_use": REQUESTED_TOKEN_USE,
            "scope": to_wire(scopes),
            "client_info": "1",
            "claims": hide(claims) if claims else None,
        },
        client_auth,
    )
