"""Discovery: OpenID configuration, JWKS, instance discovery, user realm (§3-§5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional
from urllib.parse import urlsplit

from identitylib._protocol.federation.names import MICROSOFT_ONLINE, WSTRUST_2005

from . import _b2c, _federation
from ._context import ProviderState, field
from ._directory import MSA_TENANT_ID
from ._errors import OAuthError, correlation_of, error_reply, missing_parameter, unknown_tenant
from ._reply import Reply

DISCOVERY_HEADERS = {
    "Cache-Control": "max-age=86400, private",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
}
CLOUD_INSTANCE_NAME = "microsoftonline.com"
#: Entra's instance-discovery alias table (§4), the emulator's own host is added to it.
MICROSOFT_CLOUDS: list[tuple[str, str, list[str]]] = [
    (
        "login.microsoftonline.com",
        "login.windows.net",
        [
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net",
        ],
    ),
    (
        "login.partner.microsoftonline.cn",
        "login.partner.microsoftonline.cn",
        ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    ),
    ("login.microsoftonline.de", "login.microsoftonline.de", ["login.microsoftonline.de"]),
    (
        "login.microsoftonline.us",
        "login.microsoftonline.us",
        ["login.microsoftonline.us", "login.usgovcloudapi.net"],
    ),
    (
        "login-us.microsoftonline.com",
        "login-us.microsoftonline.com",
        ["login-us.microsoftonline.com"],
    ),
]


def _error(
    state: ProviderState, err: OAuthError, base_url: Optional[str], headers: Mapping[str, str]
) -> Reply:
    return error_reply(
        err, base_url=base_url, correlation_id=correlation_of(headers), now=state.clock()
    )


def openid_configuration(
    state: ProviderState, base_url: str, segment: str, headers: Mapping[str, str]
) -> Reply:
    """The v2 OpenID Provider configuration of ``segment`` (§3.2)."""
    tenant = state.directory.resolve_tenant(segment)
    if tenant is None:
        return _error(state, unknown_tenant(segment, discovery=True), base_url, headers)
    if tenant.policy:
        return _b2c.openid_configuration(state, base_url, tenant)
    root = f"{base_url}/{tenant.path}"
    if tenant.alias in ("common", "organizations"):
        issuer = f"{base_url}/{{tenantid}}/v2.0"
    else:
        issuer = f"{base_url}/{tenant.tenant_id or MSA_TENANT_ID}/v2.0"
    document: dict[str, Any] = {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "kerberos_endpoint": f"{root}/kerberos",
        "tenant_region_scope": "WW" if tenant.specific else None,
        "cloud_instance_name": CLOUD_INSTANCE_NAME,
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    return Reply(200, json=document, headers=dict(DISCOVERY_HEADERS))


def jwks(
    state: ProviderState, segment: str, base_url: Optional[str], headers: Mapping[str, str]
) -> Reply:
    """The signing keys; each key's ``issuer`` is the v2 template when ``base_url`` is known."""
    tenant = state.directory.resolve_tenant(segment)
    if tenant is None:
        return _error(state, unknown_tenant(segment, discovery=True), base_url, headers)
    if tenant.policy:
        return _b2c.jwks(state, tenant)
    issuer = f"{base_url}/{{tenantid}}/v2.0" if base_url else None
    return Reply(200, json=state.keys.jwks(issuer), headers=dict(DISCOVERY_HEADERS))


def _alias_table(base_url: str) -> list[dict[str, Any]]:
    table = [
        {"preferred_network": net, "preferred_cache": cache, "aliases": list(aliases)}
        for net, cache, aliases in MICROSOFT_CLOUDS
    ]
    parts = urlsplit(base_url)
    own = [parts.netloc.lower()]
    if parts.hostname and parts.hostname.lower() not in own:
        own.append(parts.hostname.lower())
    table.append({"preferred_network": own[0], "preferred_cache": own[-1], "aliases": own})
    return table


def instance_discovery(
    state: ProviderState, base_url: str, params: Mapping[str, str], headers: Mapping[str, str]
) -> Reply:
    """``/common/discovery/instance``: the tenant discovery URL and the alias table.

    MSAL names the validated authority by host name only (no port); when that host is the
    emulator's, the discovery URL gets the emulator's port back.
    """
    endpoint = field(params, "authorization_endpoint")
    if endpoint is None:
        return _error(state, missing_parameter("authorization_endpoint"), base_url, headers)
    asked = urlsplit("")
    try:
        asked = urlsplit(endpoint.strip())
        host, port = (asked.hostname or "").lower(), asked.port
    except ValueError:
        host, port = "", None
    own = urlsplit(base_url)
    microsoft = {alias for _, _, aliases in MICROSOFT_CLOUDS for alias in aliases}
    if not host or (host not in microsoft and host != (own.hostname or "").lower()):
        err = OAuthError("invalid_instance", 50049, "Unknown or invalid instance.")
        return _error(state, err, base_url, headers)
    netloc = own.netloc if host == own.hostname and not port else asked.netloc
    scheme = own.scheme if host == own.hostname else (asked.scheme or "https")
    segments = [s for s in asked.path.split("/") if s]
    tenant = segments[0] if segments else "common"
    version = "/v2.0" if "/v2.0/" in asked.path + "/" else ""
    body = {
        "tenant_discovery_endpoint": (
            f"{scheme}://{netloc}/{tenant}{version}/.well-known/openid-configuration"
        ),
        "api-version": field(params, "api-version") or "1.1",
        "metadata": _alias_table(base_url),
    }
    return Reply(200, json=body, headers=dict(DISCOVERY_HEADERS))


def user_realm(state: ProviderState, username: str, base_url: str) -> Reply:
    """``/common/userrealm/{username}``: Federated for a federated domain (with the
    emulator's own federation server), Managed for another known domain, Unknown otherwise."""
    domain = (username or "").strip().rpartition("@")[2].lower()
    known = "@" in (username or "") and bool(domain) and state.directory.known_domain(domain)
    federated = known and state.directory.federated_domain(domain)
    body: dict[str, Any] = {
        "ver": "1.0",
        "account_type": "Federated" if federated else "Managed" if known else "Unknown",
        "domain_name": domain,
    }
    if federated:
        body["federation_protocol"] = "WSTrust"
        body["federation_metadata_url"] = _federation.metadata_url(base_url)
        body["federation_active_auth_url"] = _federation.endpoint_url(base_url, WSTRUST_2005)
    body["cloud_instance_name"] = CLOUD_INSTANCE_NAME
    body["cloud_audience_urn"] = MICROSOFT_ONLINE
    return Reply(200, json=body, headers={"Cache-Control": "max-age=86400, private"})
