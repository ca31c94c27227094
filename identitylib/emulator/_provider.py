"""The identity-provider model: Entra's v2.0 behaviour with no HTTP in it.

The server (``_server.py``) parses a request, calls one method here, and writes the
:class:`Reply` it gets back. ``base_url`` arguments are ``{scheme}://{host[:port]}`` as the
client addressed the server (from its Host header), so issuers and endpoints always name
the host the client used.

INTERFACE CONTRACT (shared by the model and the server; keep in step):
every method returns a Reply, never raises on bad input (malformed requests get OAuth
error replies with AADSTS codes), and is thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Callable, Optional

from ._config import EmulatorConfig
from ._faults import Faults
from ._reply import Reply


class IdentityProvider:
    """Tenants, apps, users, signing keys, codes and refresh tokens of one emulator."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        faults: Optional[Faults] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        raise NotImplementedError

    # --- discovery ---------------------------------------------------------------------
    def openid_configuration(self, base_url: str, tenant: str) -> Reply:
        """GET /{tenant}/v2.0/.well-known/openid-configuration."""
        raise NotImplementedError

    def jwks(self, tenant: str) -> Reply:
        """GET /{tenant}/discovery/v2.0/keys."""
        raise NotImplementedError

    def instance_discovery(self, base_url: str, params: Mapping[str, str]) -> Reply:
        """GET /common/discovery/instance (api-version 1.0 and 1.1)."""
        raise NotImplementedError

    def user_realm(self, username: str) -> Reply:
        """GET /common/userrealm/{username}?api-version=1.0."""
        raise NotImplementedError

    # --- browser endpoints -------------------------------------------------------------
    def authorize(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply:
        """GET (or POST) /{tenant}/oauth2/v2.0/authorize: the sign-in page, or an error."""
        raise NotImplementedError

    def sign_in(self, base_url: str, tenant: str, form: Mapping[str, str]) -> Reply:
        """POST of the sign-in page: a redirect / auto-posting page to the redirect URI."""
        raise NotImplementedError

    def device_login_page(self, base_url: str, params: Mapping[str, str]) -> Reply:
        """GET /devicelogin: the page where a user enters a device code and signs in."""
        raise NotImplementedError

    def device_login(self, base_url: str, form: Mapping[str, str]) -> Reply:
        """POST /devicelogin: approve (or decline) a pending device code."""
        raise NotImplementedError

    # --- token endpoints ---------------------------------------------------------------
    def token(
        self, base_url: str, tenant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply:
        """POST /{tenant}/oauth2/v2.0/token, every grant. ``headers`` are lower-cased."""
        raise NotImplementedError

    def devicecode(
        self, base_url: str, tenant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply:
        """POST /{tenant}/oauth2/v2.0/devicecode."""
        raise NotImplementedError

    # --- managed identity --------------------------------------------------------------
    def managed_identity_token(
        self,
        resource: Optional[str],
        *,
        client_id: Optional[str] = None,
        object_id: Optional[str] = None,
        resource_id: Optional[str] = None,
    ) -> Reply:
        """A managed-identity token in IMDS shape (numbers as strings), or an IMDS error."""
        raise NotImplementedError

    # --- administration (for tests and the CLI) ---------------------------------------
    def rollover_signing_key(self) -> str:
        """Start signing with a new key (the old one stays in the JWKS); return its kid."""
        raise NotImplementedError

    def revoke_refresh_tokens(self, username: Optional[str] = None) -> int:
        """Revoke every refresh token (of one user); return how many were revoked."""
        raise NotImplementedError
