"""The resource owner password credentials grant (RFC 6749 §4.3; wire formats §7.5), for
managed (cloud) users; a federated user's password goes to the federation server instead
(``_flows/_federation.py``, ``grants/saml_bearer.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from identitylib._protocol._request import form_fields
from identitylib._protocol._scopes import to_wire

GRANT_TYPE = "password"


def request_fields(
    *,
    client_id: str,
    username: str,
    password: str,
    scopes: Sequence[str],
    client_auth: Mapping[str, str],
    claims: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Body fields of a password grant request (``scopes`` already decorated)."""
    return form_fields(
        extra,
        {
            "grant_type": GRANT_TYPE,
            "client_id": client_id,
            "username": username,
            "password": password,
            "scope": to_wire(scopes),
            "client_info": "1",
            "claims": claims,
        },
        client_auth,
    )


def anchor_header(username: str) -> dict[str, str]:
    """The CCS routing header MSAL sends with a password grant."""
    return {"X-AnchorMailbox": f"upn:{username}"}
