"""The refresh token grant (RFC 6749 §6; wire formats §7.2): new tokens for a cached session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from identitylib._log import Secret, hide
from identitylib._protocol._request import grant_fields
from identitylib._protocol._scopes import to_wire

GRANT_TYPE = "refresh_token"


def request_fields(
    *,
    client_id: str,
    refresh_token: str,
    scopes: Sequence[str],
    client_auth: Mapping[str, str],
    claims: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Body fields of a refresh token request (``scopes`` already decorated).

    ``extra`` (the app's ``data=``) may add fields but never replaces the grant, the
    client id, the refresh token or the credential.
    """
    if type(refresh_token) is not Secret:  # (a cached one is: the flow's hidden copy's)
        refresh_token = hide(refresh_token)
    return grant_fields(
        extra,
        {
            "grant_type": GRANT_TYPE,
            "client_id": client_id,
            "refresh_token": refresh_token,
            "scope": to_wire(scopes),
            "client_info": "1",
            "claims": hide(claims) if claims else None,
        },
        client_auth,
    )
