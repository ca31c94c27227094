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

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Callable, Optional

from cryptography.hazmat.primitives.asymmetric import rsa

from . import (
    _browser,
    _demo_api,
    _device_flow,
    _discovery,
    _federation,
    _logout,
    _mi_tokens,
    _token_endpoint,
)
from ._config import EmulatorConfig
from ._consent import permissions_of
from ._context import Options, ProviderState
from ._errors import OAuthError, correlation_of, server_error_reply
from ._faults import Faults
from ._records import Logout
from ._reply import Reply
from ._resources import parse_user_scopes
from ._signing import KeyRing, make_signing_key

logger = logging.getLogger("identitylib.emulator")
_NO_HEADERS: Mapping[str, str] = {}


class IdentityProvider:
    """Tenants, apps, users, signing keys, codes and refresh tokens of one emulator.

    Keyword-only extras: ``signing_key`` (reuse an RSA key instead of generating one),
    ``device_slow_down`` and ``reject_assertion_replay`` (see :class:`Options`; both may
    also be switched later through ``provider.options``).
    """

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        faults: Optional[Faults] = None,
        clock: Callable[[], float] = time.time,
        signing_key: Optional[rsa.RSAPrivateKey] = None,
        device_slow_down: bool = False,
        reject_assertion_replay: bool = False,
    ) -> None:
        self.config = config
        self.faults = faults if faults is not None else Faults()
        self.clock = clock
        self.options = Options(device_slow_down, reject_assertion_replay)
        keys = KeyRing(make_signing_key(clock(), signing_key))
        self._state = ProviderState(config, self.faults, clock, keys, self.options)

    def _guard(
        self, call: Callable[[], Reply], base_url: Optional[str], headers: Mapping[str, str]
    ) -> Reply:
        """Run ``call``; an unexpected exception becomes a logged 500 ``server_error``."""
        try:
            return call()
        except Exception:
            logger.exception("identity-provider model failed")
            return server_error_reply(
                base_url=base_url, correlation_id=correlation_of(headers), now=time.time()
            )

    # --- discovery ---------------------------------------------------------------------
    def openid_configuration(
        self, base_url: str, tenant: str, *, headers: Optional[Mapping[str, str]] = None
    ) -> Reply:
        """GET /{tenant}/v2.0/.well-known/openid-configuration."""
        h = headers or _NO_HEADERS
        return self._guard(
            lambda: _discovery.openid_configuration(self._state, base_url, tenant, h),
            base_url,
            h,
        )

    def jwks(
        self,
        tenant: str,
        *,
        base_url: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Reply:
        """GET /{tenant}/discovery/v2.0/keys. Pass ``base_url`` to get each key's ``issuer``."""
        h = headers or _NO_HEADERS
        return self._guard(lambda: _discovery.jwks(self._state, tenant, base_url, h), base_url, h)

    def instance_discovery(
        self,
        base_url: str,
        params: Mapping[str, str],
        *,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Reply:
        """GET /common/discovery/instance (api-version 1.0 and 1.1)."""
        h = headers or _NO_HEADERS
        return self._guard(
            lambda: _discovery.instance_discovery(self._state, base_url, params, h), base_url, h
        )

    def user_realm(self, username: str, *, base_url: str) -> Reply:
        """GET /common/userrealm/{username}?api-version=1.0."""
        return self._guard(
            lambda: _discovery.user_realm(self._state, username, base_url), base_url, _NO_HEADERS
        )

    # --- the federation server of the federated domains (WS-Trust) -------------------
    def federation_metadata(self, base_url: str) -> Reply:
        """GET /adfs/services/trust/mex: the metadata exchange document."""
        return self._guard(lambda: _federation.mex(base_url), base_url, _NO_HEADERS)

    def wstrust(self, base_url: str, version: str, body: str) -> Reply:
        """POST /adfs/services/trust/{13|2005}/usernamemixed: a SOAP RST (``version`` is
        the path segment); a SAML assertion or a SOAP fault."""
        return self._guard(
            lambda: _federation.wstrust(self._state, base_url, version, body),
            base_url,
            _NO_HEADERS,
        )

    # --- browser endpoints -------------------------------------------------------------
    def authorize(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply:
        """GET (or POST) /{tenant}/oauth2/v2.0/authorize: the sign-in page, or an error."""
        return self._guard(
            lambda: _browser.authorize(self._state, base_url, tenant, params), base_url, params
        )

    def sign_in(self, base_url: str, tenant: str, form: Mapping[str, str]) -> Reply:
        """POST of the sign-in page: a redirect / auto-posting page to the redirect URI."""
        return self._guard(
            lambda: _browser.sign_in(self._state, base_url, tenant, form), base_url, form
        )

    def forgot_password(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply:
        """GET /{tenant}/{policy}/oauth2/v2.0/authorize?txn=...&action=forgot_password: the
        "Forgot your password?" link of a B2C sign-up/sign-in page (AADB2C90118)."""
        return self._guard(
            lambda: _browser.forgot_password(self._state, base_url, tenant, params),
            base_url,
            params,
        )

    def end_session(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply:
        """GET or POST /{tenant}/oauth2/v2.0/logout: back to ``post_logout_redirect_uri``
        when registered, else a signed-out page; recorded in :meth:`logouts`."""
        return self._guard(
            lambda: _logout.end_session(self._state, base_url, tenant, params), base_url, params
        )

    def demo_api_me(self, base_url: str, headers: Mapping[str, str]) -> Reply:
        """GET /demo-api/me: the demo API's answer to a bearer token (see ``_demo_api``)."""
        return self._guard(lambda: _demo_api.me(self._state, base_url, headers), base_url, headers)

    def device_login_page(self, base_url: str, params: Mapping[str, str]) -> Reply:
        """GET /devicelogin: the page where a user enters a device code and signs in."""
        return self._guard(
            lambda: _device_flow.login_page(self._state, base_url, params), base_url, params
        )

    def device_login(self, base_url: str, form: Mapping[str, str]) -> Reply:
        """POST /devicelogin: approve (or decline) a pending device code."""
        return self._guard(lambda: _device_flow.login(self._state, base_url, form), base_url, form)

    # --- token endpoints ---------------------------------------------------------------
    def token(
        self, base_url: str, tenant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply:
        """POST /{tenant}/oauth2/v2.0/token, every grant. ``headers`` are lower-cased."""
        return self._guard(
            lambda: _token_endpoint.token(self._state, base_url, tenant, form, headers),
            base_url,
            headers,
        )

    def devicecode(
        self, base_url: str, tenant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply:
        """POST /{tenant}/oauth2/v2.0/devicecode."""
        return self._guard(
            lambda: _device_flow.start(self._state, base_url, tenant, form, headers),
            base_url,
            headers,
        )

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
        return self._guard(
            lambda: _mi_tokens.token(
                self._state,
                resource,
                client_id=client_id,
                object_id=object_id,
                resource_id=resource_id,
            ),
            None,
            _NO_HEADERS,
        )

    # --- administration (for tests and the CLI) ---------------------------------------
    def rollover_signing_key(self) -> str:
        """Start signing with a new key (the old one stays in the JWKS); return its kid."""
        return self._state.keys.add(make_signing_key(self.clock()))

    def revoke_refresh_tokens(self, username: Optional[str] = None) -> int:
        """Revoke every refresh token (of one user); return how many were revoked."""
        return self._state.refresh_tokens.revoke(username)

    def logouts(self) -> list[Logout]:
        """The requests to the end-session endpoints so far, oldest first."""
        return self._state.logouts.all()

    def reset_logouts(self) -> None:
        """Forget the sign-outs recorded so far."""
        self._state.logouts.clear()

    def _user_oid(self, username: str) -> str:
        user = self._state.directory.user(username)
        if user is None:
            raise ValueError(f"no user {username!r} in the emulator configuration")
        return self._state.directory.user_oid(user)

    def grant_consent(self, username: str, client_id: str, scopes: Sequence[str]) -> None:
        """Record that ``username`` consented to ``scopes`` (e.g. ``api://demo-api-2/read``)
        for app ``client_id``, as the consent page's Accept does. ValueError for an unknown
        user or scope."""
        try:
            parsed = parse_user_scopes(self._state.directory, " ".join(scopes))
        except OAuthError as err:
            raise ValueError(err.text) from None
        granted = permissions_of(parsed, only_consent_required=False)
        self._state.consents.grant(self._user_oid(username), client_id, granted)

    def revoke_consent(
        self, username: Optional[str] = None, client_id: Optional[str] = None
    ) -> int:
        """Forget consents (of one user, to one app); return how many user-app grants went."""
        oid = self._user_oid(username) if username is not None else None
        return self._state.consents.revoke(oid, client_id)
