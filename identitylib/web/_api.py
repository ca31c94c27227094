"""Protecting a web API: validate the bearer token, check its permissions, and call further
APIs on behalf of the caller. The framework-neutral core of the API guards.

:class:`ProtectedApi` (blocking) and :class:`AsyncProtectedApi` (asyncio) take the
settings of ``identitylib.validation.AccessTokenValidator`` (authority or oidc_authority,
audience, allowed tenants, ...) and, to call downstream APIs, the API's own client
credential. :meth:`~ProtectedApi.authenticate` returns the :class:`Caller` or raises
``TokenValidationError`` (its ``status_code`` and ``www_authenticate`` are the answer:
401 with an RFC 6750 challenge, 403 for a missing scope or role).
:meth:`~ProtectedApi.acquire_token_on_behalf_of` exchanges the caller's token for one to
a downstream API (cached per caller: on-behalf-of tokens are partitioned by the incoming
assertion); when the downstream API needs more of the user (MFA, consent) it raises
:class:`ClaimsChallenge`, whose header relays the claims to the API's own caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from identitylib._protocol._challenge import claims_challenge_header
from identitylib.validation import AccessTokenValidator, TokenValidationError

from ._errors import TokenAcquisitionError, WebAuthError


@dataclass(frozen=True)
class Caller:
    """Who called the API: the validated claims, and the token itself (for on-behalf-of)."""

    claims: Mapping[str, Any]
    token: str = field(repr=False)

    @property
    def scopes(self) -> list[str]:
        """The delegated scopes (``scp``) the token carries."""
        value = self.claims.get("scp") or self.claims.get("scope") or ""
        return value.split() if isinstance(value, str) else [str(v) for v in value]

    @property
    def roles(self) -> list[str]:
        """The app roles (``roles``) the token carries."""
        value = self.claims.get("roles") or []
        return [str(v) for v in value] if isinstance(value, list) else []

    @property
    def is_app(self) -> bool:
        """True for an app calling as itself (client credentials): no user, no scopes."""
        return not self.scopes and self.claims.get("idtyp", "app") == "app"


class ClaimsChallenge(WebAuthError):
    """A downstream API needs more of the user (claims): answer 401 with
    :attr:`www_authenticate` so the caller can get a new token and try again."""

    status_code = 401

    def __init__(self, claims: str, description: str = "") -> None:
        super().__init__(description or "the downstream API requires more claims")
        self.claims = claims
        self.www_authenticate = claims_challenge_header(claims)


def _obo_outcome(result: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    if result and "access_token" in result:
        return dict(result)
    result = dict(result or {"error": "no_result"})
    claims = result.get("claims")
    if result.get("error") == "interaction_required" and isinstance(claims, str) and claims:
        raise ClaimsChallenge(claims, str(result.get("error_description", "")))
    raise TokenAcquisitionError(result)


class _ApiBase:
    def __init__(
        self,
        authority: Optional[str] = None,
        *,
        audience: Any,
        client_id: Optional[str] = None,
        client_credential: Any = None,
        token_cache: Any = None,
        validator: Optional[AccessTokenValidator] = None,
        application_factory: Any = None,
        **validator_options: Any,
    ) -> None:
        if validator is None:
            validator = AccessTokenValidator(authority, audience=audience, **validator_options)
        self.validator = validator
        self.application: Any = None
        if client_credential is not None:
            if not client_id:
                raise ValueError("on-behalf-of needs the API's own client_id")
            options: dict[str, Any] = {"client_credential": client_credential}
            if token_cache is not None:
                options["token_cache"] = token_cache
            if authority is not None:
                options["authority"] = authority
            else:
                options["oidc_authority"] = validator_options.get("oidc_authority")
            for name in ("verify", "http_client", "proxies", "timeout"):
                if name in validator_options:
                    options[name] = validator_options[name]
            self.application = application_factory(client_id, **options)

    def _needs_app(self) -> Any:
        if self.application is None:
            raise ValueError("on-behalf-of needs client_id= and client_credential=")
        return self.application


class ProtectedApi(_ApiBase):
    """Guards of a web API, blocking: see the module docstring."""

    def __init__(self, authority: Optional[str] = None, **options: Any) -> None:
        from identitylib import ConfidentialClientApplication

        options.setdefault("application_factory", ConfidentialClientApplication)
        super().__init__(authority, **options)

    def authenticate(
        self,
        authorization: Optional[str],
        *,
        scopes: Optional[Sequence[str]] = None,
        roles: Optional[Sequence[str]] = None,
    ) -> Caller:
        """The :class:`Caller` of an ``Authorization`` header value with a valid token
        that has all ``scopes`` (or, for an app, all ``roles``; either suffices when both
        are given). Raises ``TokenValidationError``."""
        from identitylib.validation._token import token_from_header

        token = token_from_header(authorization)
        claims = self.validator.validate(token, required_scopes=scopes, required_roles=roles)
        return Caller(claims, token)

    def acquire_token_on_behalf_of(self, caller: Caller, scopes: Sequence[str]) -> dict[str, Any]:
        """A token to call a downstream API as the caller's user. Raises
        :class:`ClaimsChallenge` or :class:`TokenAcquisitionError`."""
        app = self._needs_app()
        return _obo_outcome(app.acquire_token_on_behalf_of(caller.token, list(scopes)))


class AsyncProtectedApi(_ApiBase):
    """:class:`ProtectedApi` for asyncio frameworks, on ``identitylib.aio``."""

    def __init__(self, authority: Optional[str] = None, **options: Any) -> None:
        from identitylib.aio import ConfidentialClientApplication

        options.setdefault("application_factory", ConfidentialClientApplication)
        super().__init__(authority, **options)

    async def authenticate(
        self,
        authorization: Optional[str],
        *,
        scopes: Optional[Sequence[str]] = None,
        roles: Optional[Sequence[str]] = None,
    ) -> Caller:
        """See :meth:`ProtectedApi.authenticate`. With the issuer's keys cached (every call
        but the first, per process) the token is validated inline; a key or metadata fetch
        runs in a worker thread, never on the event loop
        (``AccessTokenValidator.validate_async``)."""
        from identitylib.validation._token import token_from_header

        token = token_from_header(authorization)
        claims = await self.validator.validate_async(
            token, required_scopes=scopes, required_roles=roles
        )
        return Caller(claims, token)

    async def acquire_token_on_behalf_of(
        self, caller: Caller, scopes: Sequence[str]
    ) -> dict[str, Any]:
        """See :meth:`ProtectedApi.acquire_token_on_behalf_of`."""
        app = self._needs_app()
        return _obo_outcome(await app.acquire_token_on_behalf_of(caller.token, list(scopes)))

    async def aclose(self) -> None:
        """Close the HTTP clients of the on-behalf-of application."""
        if self.application is not None:
            await self.application.aclose()


__all__ = ["AsyncProtectedApi", "Caller", "ClaimsChallenge", "ProtectedApi", "TokenValidationError"]
