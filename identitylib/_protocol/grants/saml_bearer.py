"""The SAML bearer grants (RFC 7522, and Entra's SAML 1.1 variant) that redeem the assertion
a federation server issued for a username and password (wire formats §5)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

from identitylib._protocol._request import form_fields
from identitylib._protocol._scopes import to_wire
from identitylib._protocol.federation.names import SAML_1, SAML_2, WSS_SAML_1_1, WSS_SAML_2

SAML1_1 = "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
SAML2 = "urn:ietf:params:oauth:grant-type:saml2-bearer"

_GRANT_BY_TOKEN_TYPE = {
    SAML_1: SAML1_1,
    WSS_SAML_1_1: SAML1_1,
    SAML_2: SAML2,
    WSS_SAML_2: SAML2,
}


def grant_type_for(token_type: str) -> str | None:
    """The grant that redeems an assertion of ``token_type``; None for another type."""
    return _GRANT_BY_TOKEN_TYPE.get(token_type)


def encode_assertion(assertion: bytes) -> str:
    """base64url without padding (RFC 7522 §2.1)."""
    return base64.urlsafe_b64encode(assertion).rstrip(b"=").decode("ascii")


def request_fields(
    *,
    client_id: str,
    grant_type: str,
    assertion: bytes,
    scopes: Sequence[str],
    client_auth: Mapping[str, str],
    claims: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Body fields of a SAML bearer token request (``scopes`` already decorated).

    ``extra`` (the app's ``data=``) may add fields but never replaces the grant, the
    assertion, the client id or the credential.
    """
    return form_fields(
        extra,
        {
            "grant_type": grant_type,
            "client_id": client_id,
            "assertion": encode_assertion(assertion),
            "scope": to_wire(scopes),
            "client_info": "1",
            "claims": claims,
        },
        client_auth,
    )
