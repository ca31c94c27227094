"""Entra's endpoints on the well-known clouds, built without discovery (as MSAL.NET does).

Every Entra cloud serves the same v2.0 endpoint layout under
``https://<host>/<tenant>/``. For an authority on one of these hosts whose tenant is also
the cache realm of its tokens (a tenant GUID, ``common``, ``organizations``,
``consumers``), the OpenID configuration a discovery would return is known in advance, so
the first token request of a new process is the only request. A domain tenant
(``contoso.onmicrosoft.com``) still goes through discovery: its token endpoint names the
tenant GUID, which only the provider knows, and which is the realm msal caches under.
Unknown hosts, B2C, ADFS, CIAM and ``oidc_authority`` are discovered as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ._hosts import (
    AZURE_CHINA,
    AZURE_GOV_DE,
    AZURE_GOV_FR,
    AZURE_GOV_SG,
    AZURE_PUBLIC,
    AZURE_US_GOVERNMENT,
)
from ._metadata import OidcMetadata
from ._parse import AuthorityKind, ParsedAuthority

#: The hosts of the well-known clouds that serve Entra's v2.0 endpoints, each with the
#: host of its cloud's token issuer (``iss``: the same for every alias of a cloud).
#: ``sts.windows.net``, an issuer host only, is discovered as before.
KNOWN_CLOUD_ISSUER_HOSTS: Mapping[str, str] = MappingProxyType(
    {
        AZURE_PUBLIC: AZURE_PUBLIC,
        "login.windows.net": AZURE_PUBLIC,
        "login.microsoft.com": AZURE_PUBLIC,
        AZURE_US_GOVERNMENT: AZURE_US_GOVERNMENT,
        "login.usgovcloudapi.net": AZURE_US_GOVERNMENT,
        AZURE_CHINA: AZURE_CHINA,
        "login.partner.microsoftonline.cn": AZURE_CHINA,
        "login-us.microsoftonline.com": "login-us.microsoftonline.com",
        "login.microsoftonline.de": "login.microsoftonline.de",
        AZURE_GOV_FR: AZURE_GOV_FR,
        AZURE_GOV_DE: AZURE_GOV_DE,
        AZURE_GOV_SG: AZURE_GOV_SG,
    }
)

_TENANTS_AS_REALM = frozenset({"common", "organizations", "consumers"})
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def known_cloud_document(authority: ParsedAuthority) -> dict[str, Any] | None:
    """The OpenID configuration of ``authority`` when it is known without discovery,
    else None (the authority is discovered as usual)."""
    if (
        authority.kind is not AuthorityKind.ENTRA
        or authority.scheme != "https"
        or authority.netloc != authority.host  # an explicit port: not the cloud's endpoint
        or authority.path != f"/{authority.tenant}"
    ):
        return None
    tenant = authority.tenant
    issuer_host = KNOWN_CLOUD_ISSUER_HOSTS.get(authority.host)
    if issuer_host is None or not (tenant in _TENANTS_AS_REALM or _GUID.fullmatch(tenant)):
        return None
    base = f"https://{authority.host}/{tenant}"
    issuer_tenant = "{tenantid}" if tenant in _TENANTS_AS_REALM else tenant
    return {
        "issuer": f"https://{issuer_host}/{issuer_tenant}/v2.0",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "jwks_uri": f"https://{authority.host}/{tenant}/discovery/v2.0/keys",
    }


def known_cloud_metadata(authority: ParsedAuthority) -> OidcMetadata | None:
    """:func:`known_cloud_document` as metadata (built here, so nothing to check)."""
    document = known_cloud_document(authority)
    if document is None:
        return None
    return OidcMetadata(
        issuer=document["issuer"],
        token_endpoint=document["token_endpoint"],
        authorization_endpoint=document["authorization_endpoint"],
        device_authorization_endpoint=document["device_authorization_endpoint"],
        end_session_endpoint=document["end_session_endpoint"],
        jwks_uri=document["jwks_uri"],
        raw=document,
    )
