"""Parsing and classifying authority URLs, with no I/O."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._hosts import B2C_HOST_SUFFIXES, CIAM_HOST_SUFFIX, WELL_KNOWN_HOSTS, WORLD_WIDE

DEFAULT_AUTHORITY = "https://login.microsoftonline.com/common/"


class AuthorityKind(enum.Enum):
    """What kind of identity provider an authority URL names."""

    ENTRA = "entra"  #: Microsoft Entra ID (work, school and personal accounts)
    ADFS = "adfs"  #: Active Directory Federation Services
    B2C = "b2c"  #: Azure AD B2C
    CIAM = "ciam"  #: Microsoft Entra External ID (``*.ciamlogin.com``)
    OIDC = "oidc"  #: any OpenID Connect issuer (``oidc_authority=``)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url_scheme(url: str, what: str) -> tuple[str, str, str]:
    """Return (scheme, hostname, netloc) of ``url``; refuse non-https unless loopback."""
    if not isinstance(url, str):
        raise TypeError(f"{what} must be a string URL, got {type(url).__name__}")
    try:
        parts = urlsplit(url.strip())
        hostname = (parts.hostname or "").lower()
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"{what} {url!r} is not a valid URL") from None
    if not hostname:
        raise ValueError(
            f"{what} {url!r} has no host; use e.g. https://login.microsoftonline.com/<tenant>"
        )
    if parts.scheme == "https":
        return parts.scheme, hostname, parts.netloc.lower()
    if parts.scheme == "http" and is_loopback_host(hostname):
        return parts.scheme, hostname, parts.netloc.lower()
    if parts.scheme == "http":
        raise ValueError(
            f"{what} {url!r} uses plain http: use https (http is allowed only for "
            "loopback hosts such as 127.0.0.1 and localhost)"
        )
    raise ValueError(f"{what} {url!r} must be an https URL")


@dataclass(frozen=True)
class ParsedAuthority:
    """An authority URL taken apart: where to discover it and how to treat it."""

    kind: AuthorityKind
    url: str  #: canonical authority URL, no trailing slash
    scheme: str
    host: str  #: lower-cased host name without port; the cache ``environment``
    netloc: str  #: host with port, for building URLs
    tenant: str  #: first path segment (as given), e.g. ``common`` or a GUID
    path: str  #: path without trailing slash, e.g. ``/tenant/policy``
    validate: bool  #: whether instance discovery may validate an unknown host
    instance_discovery_endpoint: str | None  #: where to validate, None when not needed

    @property
    def is_adfs(self) -> bool:
        """True for an ADFS authority."""
        return self.kind is AuthorityKind.ADFS

    @property
    def is_b2c(self) -> bool:
        """True for a B2C authority."""
        return self.kind is AuthorityKind.B2C

    @property
    def is_entra_like(self) -> bool:
        """True for authorities that speak Entra's dialect (client_info, instance discovery)."""
        return self.kind in (AuthorityKind.ENTRA, AuthorityKind.CIAM, AuthorityKind.B2C)

    @property
    def discovery_url(self) -> str:
        """The OpenID Provider configuration URL of this authority."""
        base = f"{self.scheme}://{self.netloc}"
        if self.kind in (AuthorityKind.OIDC, AuthorityKind.ADFS):
            return f"{self.url}/.well-known/openid-configuration"
        return f"{base}{self.path}/v2.0/.well-known/openid-configuration"


def _classify(host: str, segments: list[str]) -> AuthorityKind:
    if host.endswith(CIAM_HOST_SUFFIX):
        return AuthorityKind.CIAM
    if segments and segments[0].lower() == "adfs":
        return AuthorityKind.ADFS
    if host.endswith(B2C_HOST_SUFFIXES) or (
        len(segments) == 2 and segments[1].lower().startswith("b2c_")
    ):
        return AuthorityKind.B2C
    return AuthorityKind.ENTRA


def parse_authority(
    authority: object = None,
    *,
    oidc_authority: str | None = None,
    validate_authority: bool = True,
    instance_discovery: bool | str | None = None,
) -> ParsedAuthority:
    """Parse the ``authority`` / ``oidc_authority`` constructor arguments of an app.

    Raises ValueError (or TypeError) with a message saying how to write a valid authority.
    """
    if authority is not None and oidc_authority is not None:
        raise ValueError("Pass either authority= or oidc_authority=, not both")
    if oidc_authority is not None:
        return _parse_oidc(oidc_authority)
    if authority is None:
        authority = DEFAULT_AUTHORITY
    if not isinstance(authority, str):
        if type(authority).__name__ != "AuthorityBuilder":
            raise TypeError(f"authority must be a URL string, got {type(authority).__name__}")
        authority = str(authority)
    scheme, host, netloc = check_url_scheme(authority, "authority")
    path_segments = [s for s in urlsplit(authority.strip()).path.split("/") if s]
    if path_segments and path_segments[0].lower().startswith("dstsv2"):
        return _parse_oidc(authority)
    if not path_segments:
        if not host.endswith(CIAM_HOST_SUFFIX):
            raise ValueError(
                f"authority {authority!r} has no tenant: write it as "
                "https://login.microsoftonline.com/<tenant> (tenant = common, organizations, "
                "consumers, a tenant GUID or domain), https://<name>.ciamlogin.com, or "
                "https://<name>.b2clogin.com/<tenant>/<policy>"
            )
        path_segments = [host[: -len(CIAM_HOST_SUFFIX)] + ".onmicrosoft.com"]
    kind = _classify(host, path_segments)
    path = "/" + "/".join(path_segments)
    known_to_developer = kind in (AuthorityKind.ADFS, AuthorityKind.B2C) or not validate_authority
    needs_validation = (
        instance_discovery is not False
        and not known_to_developer
        and host not in WELL_KNOWN_HOSTS
        and not is_loopback_host(host)
    )
    endpoint: str | None = None
    if needs_validation:
        endpoint = (
            instance_discovery
            if isinstance(instance_discovery, str)
            else f"https://{WORLD_WIDE}/common/discovery/instance"
        )
    return ParsedAuthority(
        kind=kind,
        url=f"{scheme}://{netloc}{path}",
        scheme=scheme,
        host=host,
        netloc=netloc,
        tenant=path_segments[0],
        path=path,
        validate=needs_validation,
        instance_discovery_endpoint=endpoint,
    )


def _parse_oidc(url: str) -> ParsedAuthority:
    scheme, host, netloc = check_url_scheme(url, "oidc_authority")
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    segments = [s for s in path.split("/") if s]
    return ParsedAuthority(
        kind=AuthorityKind.OIDC,
        url=f"{scheme}://{netloc}{path}",
        scheme=scheme,
        host=host,
        netloc=netloc,
        tenant=segments[0] if segments else "",
        path=path,
        validate=False,
        instance_discovery_endpoint=None,
    )
