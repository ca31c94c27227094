"""The :class:`Authority` an application talks to: lazy, shared, discovery-caching."""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from functools import cached_property
from typing import Any, Optional, Union

from identitylib._log import get_logger
from identitylib._protocol._messages import Flow

from ._hosts import aliases_of
from ._instance import instance_discovery_request, parse_instance_discovery
from ._known_clouds import known_cloud_metadata
from ._metadata import OidcMetadata, discovery_request, metadata_from_dict, parse_discovery_response
from ._parse import AuthorityKind, ParsedAuthority
from ._registry import REGISTRY
from ._trust import TrustKey
from ._user_realm import UserRealm, parse_user_realm, user_realm_request

logger = get_logger(__name__)

_TENANT_ALIASES = frozenset({"common", "organizations", "consumers"})
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Authority:
    """An identity provider's address and, once discovered, its endpoints.

    Discovery is lazy: nothing is fetched until the first token request needs an endpoint,
    then the result is shared process-wide with the apps of the same ``trust`` key (see
    ``_trust.py``). Attributes mirror ``msal.authority.Authority``.
    """

    def __init__(
        self,
        parsed: ParsedAuthority,
        *,
        trust: Union[TrustKey, Callable[[], TrustKey]],
        http_cache: MutableMapping[Any, Any] | None = None,
        resolver: Optional[Callable[[Flow[OidcMetadata]], OidcMetadata]] = None,
        known_clouds: bool = False,
    ) -> None:
        self.parsed = parsed
        #: Whether a well-known Entra cloud's endpoints are built without discovery
        #: (token acquisition; see ``_known_clouds.py``).
        self._known_clouds = known_clouds
        self._trust = trust
        self._http_cache = http_cache
        self._resolver = resolver
        self._metadata: OidcMetadata | None = None

    @property
    def trust(self) -> TrustKey:
        """Which apps share what this one discovers (see ``_trust.py``): the key given, or
        what the callable given answers now (an app whose requests may come to travel
        another way, e.g. through a replaced ``get`` of its session)."""
        trust = self._trust
        return trust if isinstance(trust, TrustKey) else trust()

    def sibling(self, parsed: ParsedAuthority) -> Authority:
        """An Authority for another URL, discovered the way this one is (same trust key,
        ``http_cache`` and resolver)."""
        return Authority(
            parsed,
            trust=self._trust,
            http_cache=self._http_cache,
            resolver=self._resolver,
            known_clouds=self._known_clouds,
        )

    # MSAL-compatible read-only attributes ------------------------------------------------
    @property
    def instance(self) -> str:
        """Host of the authority (lower-cased); the cache ``environment``."""
        return self.parsed.host

    @cached_property
    def environment(self) -> str:
        """The cache ``environment`` of this authority's tokens (made once: a flow reads it
        for every request).

        For Microsoft authorities it is the host, as in MSAL (so caches are shared with msal
        and Azure CLI). For a generic OIDC issuer it is host, port and path, so that two
        issuers on one host (Keycloak realms, say) never share cache entries.
        """
        if self.parsed.kind is AuthorityKind.OIDC:
            return (self.parsed.netloc + self.parsed.path).lower()
        return self.parsed.host

    @cached_property
    def cache_environments(self) -> tuple[str, ...]:
        """Every cache ``environment`` under which an MSAL library keeps this authority's
        tokens, :attr:`environment` (identitylib's and msal Python's) first.

        Then the host's aliases (msal-node and MSAL.NET write the preferred cache host of
        instance discovery: ``login.windows.net`` for the public cloud), then host and
        port as msal-node writes them for an authority URL with a port. A generic OIDC
        issuer has only its own: MSAL's host-only form would mix the issuers of one host.
        """
        if self.parsed.kind is AuthorityKind.OIDC:
            return (self.environment,)
        host = self.parsed.host
        found = [host, *sorted(aliases_of(host) - {host})]
        if self.parsed.netloc != host:
            found.append(self.parsed.netloc)
        return tuple(found)

    def cache_realms(self, realm: str, home_account_id: str | None = None) -> tuple[str, ...]:
        """Every cache ``realm`` under which an MSAL library keeps this authority's tokens,
        ``realm`` (the token endpoint's tenant: identitylib's and msal Python's) first.

        Then the tenant as the app wrote it in the URL (msal-node's and MSAL.NET's realm of
        app tokens; msal-node lower-cases it), and, for a user of a tenant-less Entra
        authority (``common``, ``organizations``, ``consumers``), the user's home tenant
        (their realm of user tokens is the ID token's ``tid``). A generic OIDC issuer has
        only ``realm``.
        """
        if self.parsed.kind is AuthorityKind.OIDC:
            return (realm,)
        tenant = self.parsed.tenant
        found = [realm, tenant, tenant.lower()]
        if (
            home_account_id
            and "." in home_account_id
            and tenant.lower() in _TENANT_ALIASES
            and self.parsed.kind in (AuthorityKind.ENTRA, AuthorityKind.CIAM)
        ):
            found.append(home_account_id.split(".", 1)[1])
        return tuple(dict.fromkeys(found))

    @property
    def is_adfs(self) -> bool:
        """True for an ADFS authority."""
        return self.parsed.is_adfs

    @property
    def is_b2c(self) -> bool:
        """True for a B2C authority."""
        return self.parsed.is_b2c

    @cached_property
    def is_oidc(self) -> bool:
        """True for a generic OpenID Connect issuer (told once: a refresh asks it)."""
        return self.parsed.kind is AuthorityKind.OIDC

    @property
    def tenant(self) -> str:
        """Tenant of the token endpoint once discovered, else the URL's tenant segment."""
        return self._metadata.realm if self._metadata else self.parsed.tenant

    @property
    def token_endpoint(self) -> str:
        """The token endpoint (discovers it if needed)."""
        return self._resolve().token_endpoint

    @property
    def authorization_endpoint(self) -> str | None:
        """The authorization endpoint (discovers it if needed)."""
        return self._resolve().authorization_endpoint

    @property
    def device_authorization_endpoint(self) -> str | None:
        """The device authorization endpoint (discovers it if needed)."""
        return self._resolve().device_authorization_endpoint

    @property
    def end_session_endpoint(self) -> str | None:
        """Where to send a browser to sign out of the provider (discovers it if needed)."""
        return self._resolve().end_session_endpoint

    def __repr__(self) -> str:
        return f"Authority({self.parsed.url!r}, kind={self.parsed.kind.value})"

    @property
    def expected_realm(self) -> str | None:
        """The cache ``realm`` of this authority's tokens, if known without discovery.

        Entra keeps a GUID, ``common``, ``organizations`` or ``consumers`` tenant unchanged in
        its token endpoint, so a cache lookup needs no discovery for those; a domain tenant is
        only known once discovery maps it to its GUID.
        """
        known = self.known_metadata
        if known is not None:
            return known.realm
        tenant = self.parsed.tenant
        if self.parsed.kind is AuthorityKind.ADFS and tenant == "adfs":
            return tenant
        if self.parsed.kind in (AuthorityKind.ENTRA, AuthorityKind.CIAM) and (
            tenant in _TENANT_ALIASES or _GUID.fullmatch(tenant)
        ):
            return tenant
        return None

    # Discovery --------------------------------------------------------------------------
    @property
    def discovery_key(self) -> str:
        """What the registry keeps this authority's document under (beside the trust key):
        its discovery URL and, when instance discovery validates the host, the endpoint
        that validated it; an unvalidated document never answers for a validating app."""
        endpoint = self.parsed.instance_discovery_endpoint
        url = self.parsed.discovery_url
        return url if endpoint is None else f"{url} validated-by {endpoint}"

    @property
    def known_metadata(self) -> OidcMetadata | None:
        """Metadata already at hand: this object's, the process registry's or http_cache's,
        else, with ``known_clouds``, the endpoints of a well-known Entra cloud, known
        without discovery (see ``_known_clouds.py``)."""
        if self._metadata is None:
            document = REGISTRY.get(self.trust, self.discovery_key, self._http_cache)
            if document is not None:
                self._metadata = metadata_from_dict(self.parsed, document)
            elif self._known_clouds:
                self._metadata = known_cloud_metadata(self.parsed)
        return self._metadata

    def metadata_flow(self) -> Flow[OidcMetadata]:
        """Return the metadata, discovering it (and validating the host) when unknown."""
        known = self.known_metadata
        if known is not None:
            return known
        url = self.parsed.discovery_url
        if self.parsed.validate:
            response = yield instance_discovery_request(self.parsed)
            url = parse_instance_discovery(self.parsed, response)
        response = yield discovery_request(self.parsed, url)
        metadata = parse_discovery_response(self.parsed, response)
        REGISTRY.put(self.trust, self.discovery_key, dict(metadata.raw), self._http_cache)
        logger.debug("Discovered %s: token endpoint %s", self.parsed.url, metadata.token_endpoint)
        self._metadata = metadata
        return metadata

    # User realm discovery ---------------------------------------------------------------
    @property
    def has_user_realm(self) -> bool:
        """Whether username/password sign-in asks this host for the user's realm first:
        Entra ID and External ID, as MSAL does. Not ADFS (MSAL neither), B2C nor a generic
        OIDC issuer, whose users are never federated through WS-Trust."""
        return self.parsed.kind in (AuthorityKind.ENTRA, AuthorityKind.CIAM)

    @property
    def _no_user_realm_key(self) -> str:
        return f"{self.parsed.scheme}://{self.parsed.netloc}/common/userrealm (none)"

    def user_realm_flow(self, username: str, correlation_id: str) -> Flow[UserRealm | None]:
        """The realm of ``username``'s domain; None where there is no user realm discovery
        (see :attr:`has_user_realm`, and a host that answered 404, remembered for the
        process like discovered metadata). Other failures end the flow with an error."""
        if not self.has_user_realm or REGISTRY.get(self.trust, self._no_user_realm_key):
            return None
        response = yield user_realm_request(self.parsed, username, correlation_id)
        realm = parse_user_realm(response, correlation_id)
        if realm is None:
            logger.debug("%s has no user realm endpoint", self.parsed.netloc)
            REGISTRY.put(self.trust, self._no_user_realm_key, {"user_realm": None})
        return realm

    def _resolve(self) -> OidcMetadata:
        known = self.known_metadata
        if known is not None:
            return known
        if self._resolver is None:
            raise RuntimeError("This authority has no transport to discover its endpoints with")
        return self._resolver(self.metadata_flow())
