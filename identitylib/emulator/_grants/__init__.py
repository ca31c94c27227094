"""The token endpoint's grants, one module each, by ``grant_type``."""

from __future__ import annotations

from typing import Any, Callable

from identitylib.emulator._context import TokenRequest
from identitylib.emulator._grants import (
    authorization_code,
    client_credentials,
    device_code,
    on_behalf_of,
    password,
    refresh_token,
    saml_bearer,
    user_fic,
)

Grant = Callable[[TokenRequest], dict[str, Any]]

GRANTS: dict[str, Grant] = {
    "authorization_code": authorization_code.grant,
    "refresh_token": refresh_token.grant,
    "client_credentials": client_credentials.grant,
    "password": password.grant,
    device_code.GRANT_TYPE: device_code.grant,
    device_code.SHORT_GRANT_TYPE: device_code.grant,
    on_behalf_of.GRANT_TYPE: on_behalf_of.grant,
    user_fic.GRANT_TYPE: user_fic.grant,
    **dict.fromkeys(saml_bearer.GRANT_TYPES, saml_bearer.grant),
}

#: Grants an app with "allow public client flows" may use without its credential.
PUBLIC_FLOW_GRANTS = frozenset(
    {"password", device_code.GRANT_TYPE, device_code.SHORT_GRANT_TYPE, *saml_bearer.GRANT_TYPES}
)
