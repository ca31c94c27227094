"""``AccessTokenValidator``: what a protected web API calls on each request."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Callable, Optional, Union

from jwt.algorithms import get_default_algorithms

from identitylib._authority import Authority, AuthorityKind, TrustKey, parse_authority
from identitylib._authority._metadata import OidcMetadata
from identitylib._log import get_logger, hide
from identitylib._protocol._id_token import CLOCK_SKEW
from identitylib._transport import SyncTransport
from identitylib._transport._sync import Timeout

from . import _checks
from ._discovery import metadata, run_transport
from ._errors import TokenValidationError, invalid_token, unavailable
from ._jwks_cache import DEFAULT_MAX_AGE, DEFAULT_REFETCH_INTERVAL, JWKS_CACHE
from ._keys import Jwk, KeySet, jwks_flow
from ._token import token_from_header, unverified_header, verified_claims

logger = get_logger(__name__)

#: Asymmetric JWS algorithms a validator may accept. ``none`` and HS* never: a public key
#: must not double as an HMAC secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

Names = Union[str, Iterable[str], None]


def _names(value: Names, what: str, *, split: bool) -> tuple[str, ...]:
    """A tuple of non-empty strings from a string or an iterable of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split() if split else [value]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping):
        items = list(value)
    else:
        raise TypeError(f"{what} must be a string or a list of strings")
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise TypeError(f"{what} must contain non-empty strings only")
    return tuple(v.strip() for v in items)


def _algorithms(value: Iterable[str]) -> frozenset[str]:
    names = _names(value, "allowed_algorithms", split=False)
    if not names:
        raise ValueError("allowed_algorithms must name at least one algorithm, e.g. RS256")
    supported = get_default_algorithms()
    for name in names:
        if name not in ASYMMETRIC_ALGORITHMS or name not in supported:
            raise ValueError(
                f"allowed_algorithms: {name!r} is not accepted; use asymmetric algorithms "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}), never 'none' or HS*"
            )
    return frozenset(names)


#: Seconds a validator uses the issuer's metadata before reading the registry again.
METADATA_MEMO_SECONDS = 300.0


class AccessTokenValidator:
    """Validates the JWT access tokens a web API receives, for one issuer and audience.

    ``authority`` is the Entra authority of the API's tenant
    (``https://login.microsoftonline.com/<tenant>``; ``common`` or ``organizations`` for a
    multi-tenant API), or ``oidc_authority`` the issuer of another OpenID Connect provider.
    ``audience`` is what ``aud`` must name: a string or a list (for Entra, the API's client
    id for v2 tokens and its App ID URI for v1 tokens).

    Checked: the signature (``allowed_algorithms``, keys from the issuer's JWKS, cached per
    process), ``iss`` (the discovered issuer, Entra's ``{tenantid}`` template filled from a
    GUID ``tid``, each key's own ``issuer``; ``issuers=`` replaces the discovered issuer,
    ``accept_v1_issuer=True`` adds ``https://sts.windows.net/{tid}/``), ``aud``, ``exp`` /
    ``nbf`` give or take ``clock_skew`` seconds, ``allowed_tenants`` (``tid``), and the
    permissions: all of ``required_scopes`` (``scp``, else ``scope``; a list or a
    space-separated string) or all of ``required_roles`` (``roles``); when both are given
    either set suffices.

    ID tokens are refused (``nonce``, ``at_hash`` or ``c_hash``; from Entra, no ``azp``
    and no ``appid``; unless the header's ``typ`` is RFC 9068's ``at+jwt``), and so are
    tokens that carry neither scopes nor app roles, unless
    ``accept_tokens_without_permissions=True``: for an API that authorizes callers
    itself, by an access-control list of client ids (Microsoft.Identity.Web's
    ``AllowWebApiToBeAuthorizedByACL``).

    :meth:`validate` returns the claims or raises :class:`TokenValidationError`. Nothing
    is fetched before the first validation. ``http_client``, ``verify``, ``proxies``,
    ``timeout`` and ``http_cache`` mean what they mean for the application classes.
    """

    def __init__(
        self,
        authority: Optional[str] = None,
        *,
        oidc_authority: Optional[str] = None,
        audience: Union[str, Iterable[str]],
        required_scopes: Names = None,
        required_roles: Names = None,
        issuers: Names = None,
        accept_v1_issuer: bool = False,
        accept_tokens_without_permissions: bool = False,
        allowed_tenants: Names = None,
        clock_skew: float = CLOCK_SKEW,
        allowed_algorithms: Iterable[str] = ("RS256",),
        jwks_max_age: float = DEFAULT_MAX_AGE,
        jwks_refetch_interval: float = DEFAULT_REFETCH_INTERVAL,
        http_client: Any = None,
        verify: Any = True,
        proxies: Optional[Mapping[str, str]] = None,
        timeout: Timeout = None,
        http_cache: Optional[MutableMapping[Any, Any]] = None,
        validate_authority: bool = True,
        instance_discovery: Optional[bool] = None,
    ) -> None:
        if authority is None and oidc_authority is None:
            raise ValueError(
                "Pass authority= (e.g. https://login.microsoftonline.com/<your tenant>) or "
                "oidc_authority= (the issuer of your OpenID Connect provider)"
            )
        self._parsed = parse_authority(
            authority,
            oidc_authority=oidc_authority,
            validate_authority=validate_authority,
            instance_discovery=instance_discovery,
        )
        self._audiences = frozenset(_names(audience, "audience", split=False))
        if not self._audiences:
            raise ValueError("audience must name the API: its client id and/or App ID URI")
        self._scopes = _names(required_scopes, "required_scopes", split=True)
        self._roles = _names(required_roles, "required_roles", split=False)
        self._issuers = _names(issuers, "issuers", split=False)
        if accept_v1_issuer and self._parsed.kind is AuthorityKind.OIDC:
            raise ValueError("accept_v1_issuer is for Entra ID; pass issuers= instead")
        self._accept_v1 = bool(accept_v1_issuer)
        self._accept_no_permissions = bool(accept_tokens_without_permissions)
        self._entra = self._parsed.kind in (AuthorityKind.ENTRA, AuthorityKind.CIAM)
        self._tenants = frozenset(
            t.lower() for t in _names(allowed_tenants, "allowed_tenants", split=False)
        )
        for name, seconds in (
            ("clock_skew", clock_skew),
            ("jwks_max_age", jwks_max_age),
            ("jwks_refetch_interval", jwks_refetch_interval),
        ):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0")
        self._skew = float(clock_skew)
        self._max_age = float(jwks_max_age)
        self._refetch_interval = float(jwks_refetch_interval)
        self._algorithms = _algorithms(allowed_algorithms)
        self._transport = SyncTransport(
            http_client, verify=verify, proxies=proxies, timeout=timeout
        )
        #: Which validators and apps share this one's discovery and keys (_authority/_trust.py).
        self._trust = TrustKey.of(http_client, verify, proxies)
        self._http_cache = http_cache
        self._now: Callable[[], float] = time.time
        # The issuer's metadata as last read from the process registry, and until when it
        # is used without looking again (a lookup rebuilds and re-checks it: per request,
        # that would be a good part of the cost of a validation).
        self._metadata: Optional[tuple[OidcMetadata, float]] = None

    def __repr__(self) -> str:
        return f"AccessTokenValidator({self._parsed.url!r}, audience={sorted(self._audiences)!r})"

    @property
    def authority_url(self) -> str:
        """The authority (or OIDC issuer) whose tokens this validator accepts."""
        return self._parsed.url

    @property
    def audiences(self) -> frozenset[str]:
        """The accepted ``aud`` values."""
        return self._audiences

    def validate(
        self,
        token: str,
        *,
        required_scopes: Names = None,
        required_roles: Names = None,
    ) -> dict[str, Any]:
        """Return the claims of a valid ``token``; raise :class:`TokenValidationError`.

        Given ``required_scopes`` and/or ``required_roles`` replace both of the validator's
        own for this call (so an API with several endpoints can share one validator).
        """
        token = hide(token)  # '***' in the locals a crash reporter may print
        scopes, roles = self._permissions(required_scopes, required_roles)
        try:
            header, alg, kid = self._signing_of(token)
            found, key = self._signing_key(kid)
            return self._checked(token, header, alg, found, key, scopes, roles)
        except TokenValidationError as rejected:
            logger.debug("Token rejected (%s): %s", rejected.error, rejected.description)
            raise

    async def validate_async(
        self,
        token: str,
        *,
        required_scopes: Names = None,
        required_roles: Names = None,
    ) -> dict[str, Any]:
        """:meth:`validate` for asyncio code: the same checks, without blocking the loop.

        With the issuer's metadata and keys in the process caches (every call but the
        first, and the first after a key rollover or the keys' max age), the whole
        validation runs inline: a signature check and a few comparisons. Only a discovery
        or a key fetch runs in a worker thread, through the same caches, locks and rate
        limits as :meth:`validate`, so concurrent callers still cause one fetch.
        """
        import asyncio

        token = hide(token)
        scopes, roles = self._permissions(required_scopes, required_roles)
        try:
            header, alg, kid = self._signing_of(token)
            signing = self._cached_signing_key(kid)
            if signing is None:
                signing = await asyncio.to_thread(self._signing_key, kid)
            found, key = signing
            return self._checked(token, header, alg, found, key, scopes, roles)
        except TokenValidationError as rejected:
            logger.debug("Token rejected (%s): %s", rejected.error, rejected.description)
            raise

    def validate_bearer_header(
        self,
        authorization: Optional[str],
        *,
        required_scopes: Names = None,
        required_roles: Names = None,
    ) -> dict[str, Any]:
        """:meth:`validate` the token of an ``Authorization: Bearer <token>`` header value.

        A missing header or another scheme raises ``invalid_request`` with status 401 and
        a bare ``Bearer`` challenge (RFC 6750 §3.1).
        """
        if isinstance(authorization, str):
            authorization = hide(authorization)  # '***' in the locals of failing frames
        token = token_from_header(authorization)
        return self.validate(token, required_scopes=required_scopes, required_roles=required_roles)

    # The steps ----------------------------------------------------------------------------
    # validate and validate_async share them: only how the signing key is had differs.
    def _permissions(
        self, required_scopes: Names, required_roles: Names
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if required_scopes is None and required_roles is None:
            return self._scopes, self._roles
        return (
            _names(required_scopes, "required_scopes", split=True),
            _names(required_roles, "required_roles", split=False),
        )

    def _signing_of(self, token: str) -> tuple[dict[str, Any], str, Optional[str]]:
        """The token's header, its accepted ``alg`` and its ``kid``."""
        header = unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            shown = alg[:20] if isinstance(alg, str) else type(alg).__name__
            raise invalid_token(f"The token's signing algorithm {shown!r} is not accepted")
        if kid is not None and not isinstance(kid, str):
            raise invalid_token("The token's key id (kid) is not a string")
        return header, alg, kid

    def _signing_key(self, kid: Optional[str]) -> tuple[OidcMetadata, Jwk]:
        """The issuer's metadata and the key ``kid``, discovered and fetched if needed
        (blocking)."""
        found = self._issuer_metadata()
        uri = self._jwks_uri(found)
        key = JWKS_CACHE.key(
            uri,
            kid,
            lambda: self._fetch_keys(uri),
            trust=self._trust,
            max_age=self._max_age,
            refetch_interval=self._refetch_interval,
        )
        return found, key

    def _cached_signing_key(self, kid: Optional[str]) -> Optional[tuple[OidcMetadata, Jwk]]:
        """:meth:`_signing_key` from this process's memory alone, or None: no request, no
        ``http_cache`` read, no wait for another caller's fetch."""
        memo = self._metadata
        if memo is not None and time.monotonic() < memo[1]:
            found: Optional[OidcMetadata] = memo[0]
        else:
            found = Authority(self._parsed, trust=self._trust).known_metadata
            if found is not None:
                self._metadata = (found, time.monotonic() + METADATA_MEMO_SECONDS)
        if found is None or not found.jwks_uri:
            return None
        key = JWKS_CACHE.cached_key(found.jwks_uri, kid, trust=self._trust, max_age=self._max_age)
        return None if key is None else (found, key)

    def _jwks_uri(self, found: OidcMetadata) -> str:
        if not found.jwks_uri:
            raise unavailable(f"The OpenID configuration of {self._parsed.url} has no jwks_uri")
        return found.jwks_uri

    def _checked(
        self,
        token: str,
        header: Mapping[str, Any],
        alg: str,
        found: OidcMetadata,
        key: Jwk,
        scopes: tuple[str, ...],
        roles: tuple[str, ...],
    ) -> dict[str, Any]:
        """The claims of ``token`` once its signature and every claim check pass."""
        claims = verified_claims(token, key.public_key(alg), alg)
        _checks.check_issuer(claims, self._accepted_issuers(found), key.issuer)
        _checks.check_audience(claims, self._audiences)
        _checks.check_access_token(header, claims, entra=self._entra)
        _checks.check_lifetime(claims, self._now(), self._skew)
        if self._tenants:
            _checks.check_tenant(claims, self._tenants)
        _checks.check_permissions(claims, scopes, roles)
        if not self._accept_no_permissions:
            _checks.check_grants_something(claims)
        return claims

    def _issuer_metadata(self) -> OidcMetadata:
        memo = self._metadata
        now = time.monotonic()
        if memo is not None and now < memo[1]:
            return memo[0]
        found = metadata(self._parsed, self._transport, self._trust, self._http_cache)
        self._metadata = (found, now + METADATA_MEMO_SECONDS)
        return found

    def _fetch_keys(self, uri: str) -> KeySet:
        keys: KeySet = run_transport(jwks_flow(uri), self._transport, "issuer's signing keys")
        return keys

    def _accepted_issuers(self, found: OidcMetadata) -> tuple[str, ...]:
        accepted = list(self._issuers)
        if not accepted:
            if not found.issuer:
                raise unavailable(
                    f"The OpenID configuration of {self._parsed.url} has no issuer; pass issuers="
                )
            accepted.append(found.issuer)
        if self._accept_v1 and found.issuer:
            accepted.append(_checks.v1_issuer_of(found.issuer))
        return tuple(accepted)


__all__ = ["AccessTokenValidator", "TokenValidationError"]
