"""The :class:`Authority` an application talks to: lazy, shared, discovery-caching."""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from typing import Any, Optional, Union

from identitylib._log import get_logger
from identitylib._protocol._messages import Flow

from ._instance import instance_discovery_request, parse_instance_discovery
from ._metadata import OidcMetadata, discovery_request, metadata_from_dict, parse_discovery_response
from ._parse import AuthorityKind, ParsedAuthority
from ._registry import REGISTRY
from ._trust import TrustKey

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
    ) -> None:
        self.parsed = parsed
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
            parsed, trust=self._trust, http_cache=self._http_cache, resolver=self._resolver
        )

    # MSAL-compatible read-only attributes ------------------------------------------------
    @property
    def instance(self) -> str:
        """Host of the authority (lower-cased); the cache ``environment``."""
        return self.parsed.host

    @property
    def environment(self) -> str:
        """The cache ``environment`` of this authority's tokens.

        For Microsoft authorities it is the host, as in MSAL (so caches are shared with msal
        and Azure CLI). For a generic OIDC issuer it is host, port and path, so that two
        issuers on one host (Keycloak realms, say) never share cache entries.
        """
        if self.parsed.kind is AuthorityKind.OIDC:
            return (self.parsed.netloc + self.parsed.path).lower()
        return self.parsed.host

    @property
    def is_adfs(self) -> bool:
        """True for an ADFS authority."""
        return self.parsed.is_adfs

    @property
    def is_b2c(self) -> bool:
        """True for a B2C authority."""
        return self.parsed.is_b2c

    @property
    def is_oidc(self) -> bool:
        """True for a generic OpenID Connect issuer."""
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
        """Metadata already at hand (this object, the process registry or http_cache)."""
        if self._metadata is None:
            document = REGISTRY.get(self.trust, self.discovery_key, self._http_cache)
            if document is not None:
                self._metadata = metadata_from_dict(self.parsed, document)
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

    def _resolve(self) -> OidcMetadata:
        known = self.known_metadata
        if known is not None:
            return known
        if self._resolver is None:
            raise RuntimeError("This authority has no transport to discover its endpoints with")
        return self._resolver(self.metadata_flow())
