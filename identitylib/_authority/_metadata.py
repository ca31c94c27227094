"""OpenID Provider configuration: the discovery request, its parsing and its safety checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from identitylib._protocol._errors import (
    INVALID_AUTHORITY,
    INVALID_RESPONSE,
    FlowError,
    error_result,
)
from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._protocol._token_response import parse_json_object

from ._hosts import B2C_HOST_SUFFIXES, WELL_KNOWN_HOSTS, aliases_of
from ._parse import AuthorityKind, ParsedAuthority, check_url_scheme

ENDPOINT_FIELDS = (
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "end_session_endpoint",
    "jwks_uri",
)


@dataclass(frozen=True)
class OidcMetadata:
    """The parts of an OpenID Provider configuration the library uses."""

    issuer: str | None
    token_endpoint: str
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    end_session_endpoint: str | None = None
    jwks_uri: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def realm(self) -> str:
        """Tenant segment of the token endpoint: the cache ``realm`` of tokens it issues."""
        segments = [s for s in urlsplit(self.token_endpoint).path.split("/") if s]
        return segments[0] if segments else ""


def discovery_request(authority: ParsedAuthority, url: str | None = None) -> HttpRequest:
    """The GET of the OpenID Provider configuration."""
    return HttpRequest(
        "GET", url or authority.discovery_url, headers={"Accept": "application/json"}
    )


def _fail(description: str, error: str = INVALID_AUTHORITY) -> FlowError:
    return FlowError(error_result(error, description))


def refuse_downgrade(authority: ParsedAuthority, scheme: str, name: str, source: str) -> None:
    """Raise :class:`FlowError` (``invalid_authority``) when an https ``authority`` is sent
    to a plain-http endpoint ``name`` (named by ``source``): credentials never leave TLS,
    not even for a loopback host. An http authority (loopback only) may name either."""
    if authority.scheme == "https" and scheme != "https":
        raise _fail(
            f"{source} names a plain-http {name} for an https authority; refusing it so "
            "that credentials never leave TLS"
        )


def parse_discovery_response(authority: ParsedAuthority, response: HttpResponse) -> OidcMetadata:
    """Check and parse a discovery response; raise :class:`FlowError` with an error result."""
    body = parse_json_object(response, f"OpenID configuration of {authority.url}")
    if isinstance(body, str):
        raise _fail(
            f"Unable to get the authority configuration of {authority.url}: {body}",
            INVALID_RESPONSE,
        )
    if not response.is_success:
        if isinstance(body.get("error"), str):
            result = dict(body)
            result.setdefault("error_description", body["error"])
            raise FlowError(result)
        raise _fail(
            f"Unable to get the authority configuration of {authority.url} (HTTP "
            f"{response.status_code}). Check the tenant name or GUID and the authority URL, e.g. "
            "https://login.microsoftonline.com/<tenant>"
        )
    return metadata_from_dict(authority, body)


def metadata_from_dict(authority: ParsedAuthority, body: Mapping[str, Any]) -> OidcMetadata:
    """Validate a configuration document and build :class:`OidcMetadata` from it."""
    values: dict[str, str | None] = {}
    for name in ENDPOINT_FIELDS:
        value = body.get(name)
        if value is None:
            values[name] = None
            continue
        if not isinstance(value, str):
            raise _fail(
                f"The configuration of {authority.url} has a non-string {name}", INVALID_RESPONSE
            )
        try:
            scheme, host, _ = check_url_scheme(value, name)
        except (TypeError, ValueError) as exc:
            raise _fail(
                f"The configuration of {authority.url} has an unusable {name}: {exc}"
            ) from None
        refuse_downgrade(authority, scheme, name, f"The configuration of {authority.url}")
        if name != "jwks_uri" and not _host_allowed(authority, host):
            raise _fail(
                f"The configuration of {authority.url} sends {name} to another host ({host}); "
                "refusing it so that credentials go only to the authority"
            )
        values[name] = value
    token_endpoint = values["token_endpoint"]
    if not token_endpoint:
        raise _fail(f"The configuration of {authority.url} has no token_endpoint", INVALID_RESPONSE)
    issuer = body.get("issuer")
    if issuer is not None and not isinstance(issuer, str):
        raise _fail(
            f"The configuration of {authority.url} has a non-string issuer", INVALID_RESPONSE
        )
    if authority.kind is AuthorityKind.OIDC and not issuer_matches(authority, issuer):
        raise _fail(
            f"The issuer {issuer!r} in the configuration of {authority.url} does not match the "
            "authority. With oidc_authority=, pass the issuer URL exactly; for Entra ID use "
            "authority= instead."
        )
    return OidcMetadata(
        issuer=issuer,
        token_endpoint=token_endpoint,
        authorization_endpoint=values["authorization_endpoint"],
        device_authorization_endpoint=values["device_authorization_endpoint"],
        end_session_endpoint=values["end_session_endpoint"],
        jwks_uri=values["jwks_uri"],
        raw=dict(body),
    )


def _host_allowed(authority: ParsedAuthority, host: str) -> bool:
    """Endpoints of a Microsoft authority stay on its host (or an alias of it)."""
    if authority.kind is AuthorityKind.OIDC:
        return True  # a generic issuer may use other hosts; its issuer is checked instead
    if host == authority.host or host in aliases_of(authority.host):
        return True
    # Regional hosts (``westus2.login.microsoft.com``) serve well-known clouds.
    return authority.host in WELL_KNOWN_HOSTS and host.split(".", 1)[-1] in WELL_KNOWN_HOSTS


def issuer_matches(authority: ParsedAuthority, issuer: str | None) -> bool:
    """OIDC issuer check: exact match, or a same-host / Microsoft-owned issuer."""
    if not issuer:
        return False
    if issuer.rstrip("/") == authority.url.rstrip("/"):
        return True
    try:
        parts = urlsplit(issuer)
        issuer_host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if not issuer_host:
        return False
    if parts.scheme == authority.scheme and parts.netloc.lower() == authority.netloc:
        return True
    if issuer_host in WELL_KNOWN_HOSTS:
        return True
    label, _, base = issuer_host.partition(".")
    if label and base and (base in WELL_KNOWN_HOSTS or base == authority.host):
        return True
    return issuer_host.endswith(B2C_HOST_SUFFIXES)
