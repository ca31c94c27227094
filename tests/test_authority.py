"""The authority layer: parsing every authority kind, lazy and shared discovery, safety checks."""

from __future__ import annotations

import pytest
import responses

from identitylib import ConfidentialClientApplication, PublicClientApplication
from identitylib._authority import DEFAULT_TRUST, Authority, AuthorityKind, parse_authority
from identitylib._authority._registry import REGISTRY
from identitylib.authority import AZURE_US_GOVERNMENT, AuthorityBuilder

from .conftest import CLIENT_ID, TENANT, add_discovery, oidc_config

ENTRA = "https://login.microsoftonline.com"
#: A domain tenant: its realm (the GUID) is known only from discovery, so it is discovered.
DOMAIN = "contoso.onmicrosoft.com"


@pytest.mark.parametrize(
    ("url", "kind", "tenant", "discovery"),
    [
        (
            f"{ENTRA}/common",
            AuthorityKind.ENTRA,
            "common",
            f"{ENTRA}/common/v2.0/.well-known/openid-configuration",
        ),
        (f"{ENTRA}/organizations/", AuthorityKind.ENTRA, "organizations", None),
        (f"{ENTRA}/consumers", AuthorityKind.ENTRA, "consumers", None),
        (f"{ENTRA}/{TENANT}", AuthorityKind.ENTRA, TENANT, None),
        (f"{ENTRA}/contoso.onmicrosoft.com", AuthorityKind.ENTRA, "contoso.onmicrosoft.com", None),
        ("https://LOGIN.MicrosoftOnline.US/contoso.com", AuthorityKind.ENTRA, "contoso.com", None),
        ("https://login.chinacloudapi.cn/common", AuthorityKind.ENTRA, "common", None),
        ("https://login.partner.microsoftonline.cn/common", AuthorityKind.ENTRA, "common", None),
        ("https://login.sovcloud-identity.fr/common", AuthorityKind.ENTRA, "common", None),
        (
            "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SignUpSignIn",
            AuthorityKind.B2C,
            "fabrikamb2c.onmicrosoft.com",
            "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SignUpSignIn"
            "/v2.0/.well-known/openid-configuration",
        ),
        ("https://login.contoso.com/tenant/b2c_1_policy", AuthorityKind.B2C, "tenant", None),
        (
            "https://adfs.contoso.com/adfs",
            AuthorityKind.ADFS,
            "adfs",
            "https://adfs.contoso.com/adfs/.well-known/openid-configuration",
        ),
        (
            "https://contoso.ciamlogin.com",
            AuthorityKind.CIAM,
            "contoso.onmicrosoft.com",
            "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
        ),
        ("https://contoso.ciamlogin.com/" + TENANT, AuthorityKind.CIAM, TENANT, None),
        (
            "http://127.0.0.1:8400/emu-tenant",
            AuthorityKind.ENTRA,
            "emu-tenant",
            "http://127.0.0.1:8400/emu-tenant/v2.0/.well-known/openid-configuration",
        ),
        ("http://localhost:1234/common", AuthorityKind.ENTRA, "common", None),
        ("http://[::1]:1234/common", AuthorityKind.ENTRA, "common", None),
        ("http://127.9.8.7/common", AuthorityKind.ENTRA, "common", None),
    ],
)
def test_authority_kinds(url: str, kind: AuthorityKind, tenant: str, discovery: str | None) -> None:
    parsed = parse_authority(url)
    assert parsed.kind is kind
    assert parsed.tenant == tenant
    assert parsed.host == parsed.host.lower()
    if discovery:
        assert parsed.discovery_url == discovery


def test_oidc_authority_and_dsts() -> None:
    parsed = parse_authority(oidc_authority="https://accounts.example.com/realms/demo/")
    assert parsed.kind is AuthorityKind.OIDC
    assert (
        parsed.discovery_url
        == "https://accounts.example.com/realms/demo/.well-known/openid-configuration"
    )
    assert parse_authority("https://dsts.example.com/dstsv2/tenant").kind is AuthorityKind.OIDC
    with pytest.raises(ValueError, match="either"):
        parse_authority(f"{ENTRA}/common", oidc_authority="https://accounts.example.com")


PUBLIC_CLOUD = ("login.microsoft.com", "login.windows.net", "sts.windows.net")


@pytest.mark.parametrize(
    ("url", "environments"),
    [
        (f"{ENTRA}/common", ("login.microsoftonline.com", *PUBLIC_CLOUD)),
        (
            "https://login.microsoft.com:443/tid",
            (
                "login.microsoft.com",
                "login.microsoftonline.com",
                "login.windows.net",
                "sts.windows.net",
                "login.microsoft.com:443",
            ),
        ),
        ("https://localhost:8443/tid", ("localhost", "localhost:8443")),
        (
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1_susi",
            ("contoso.b2clogin.com",),
        ),
    ],
)
def test_cache_environments_of_every_msal(url: str, environments: tuple[str, ...]) -> None:
    # msal Python's first, then the aliases (msal-node's and MSAL.NET's preferred cache
    # host, login.windows.net), then msal-node's host:port.
    authority = Authority(parse_authority(url), trust=DEFAULT_TRUST)
    assert authority.cache_environments == environments
    assert authority.cache_environments[0] == authority.environment


def test_cache_realms_of_every_msal() -> None:
    def realms(url: str, realm: str, home: str | None = None) -> tuple[str, ...]:
        return Authority(parse_authority(url), trust=DEFAULT_TRUST).cache_realms(realm, home)

    assert realms(f"{ENTRA}/Contoso.com", "guid") == ("guid", "Contoso.com", "contoso.com")
    assert realms(f"{ENTRA}/guid", "guid", "uid.utid") == ("guid",)
    assert realms(f"{ENTRA}/common", "common", "uid.utid") == ("common", "utid")
    assert realms(f"{ENTRA}/common", "common") == ("common",)
    oidc = Authority(
        parse_authority(oidc_authority="https://sso.example.com:8443/realms/a"),
        trust=DEFAULT_TRUST,
    )
    assert oidc.cache_environments == ("sso.example.com:8443/realms/a",)
    assert oidc.cache_realms("realms", "sub") == ("realms",)


def test_authority_builder_and_default() -> None:
    assert (
        str(AuthorityBuilder(AZURE_US_GOVERNMENT, "contoso.com"))
        == "https://login.microsoftonline.us/contoso.com"
    )
    assert (
        parse_authority(AuthorityBuilder(AZURE_US_GOVERNMENT, "contoso.com")).host
        == AZURE_US_GOVERNMENT
    )
    assert parse_authority(None).url == f"{ENTRA}/common"


@pytest.mark.parametrize(
    "url",
    [
        "http://login.microsoftonline.com/common",
        "http://10.0.0.5/common",
        "ftp://login.microsoftonline.com/common",
        "https://login.microsoftonline.com",
        "https:///common",
        "not a url",
        "https://host:notaport/common",
    ],
)
def test_bad_authorities_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_authority(url)


def test_non_string_authority_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_authority(42)


def test_instance_discovery_only_where_needed() -> None:
    assert parse_authority(f"{ENTRA}/common").instance_discovery_endpoint is None
    unknown = parse_authority("https://login.contoso-cloud.example/common")
    assert unknown.instance_discovery_endpoint == f"{ENTRA}/common/discovery/instance"
    assert (
        parse_authority(
            "https://login.contoso-cloud.example/common", validate_authority=False
        ).validate
        is False
    )
    assert (
        parse_authority(
            "https://login.contoso-cloud.example/common", instance_discovery=False
        ).validate
        is False
    )
    custom = parse_authority(
        "https://login.contoso-cloud.example/common", instance_discovery="https://disco.example/x"
    )
    assert custom.instance_discovery_endpoint == "https://disco.example/x"
    assert parse_authority("https://adfs.contoso.com/adfs").validate is False
    assert parse_authority("http://127.0.0.1:9/common").validate is False


def test_constructor_makes_no_request(http: responses.RequestsMock) -> None:
    PublicClientApplication(CLIENT_ID, authority=f"{ENTRA}/{TENANT}")
    ConfidentialClientApplication(
        CLIENT_ID, "secret", authority="https://login.contoso-cloud.example/x"
    )
    assert len(http.calls) == 0


def test_discovery_is_shared_process_wide(http: responses.RequestsMock) -> None:
    token_endpoint = add_discovery(http, tenant=DOMAIN)
    http.post(
        token_endpoint, json={"access_token": "at", "expires_in": 3600, "token_type": "Bearer"}
    )
    for scope in ("s1/.default", "s2/.default"):
        app = ConfidentialClientApplication(CLIENT_ID, "secret", authority=f"{ENTRA}/{DOMAIN}")
        assert app.acquire_token_for_client([scope])["access_token"] == "at"
    assert [c.request.method for c in http.calls] == ["GET", "POST", "POST"]


def test_discovery_persists_through_http_cache(http: responses.RequestsMock) -> None:
    http_cache: dict[object, object] = {}
    add_discovery(http, tenant=DOMAIN)
    app = ConfidentialClientApplication(
        CLIENT_ID, "secret", authority=f"{ENTRA}/{DOMAIN}", http_cache=http_cache
    )
    assert app.authority.token_endpoint.endswith("/oauth2/v2.0/token")
    REGISTRY.clear()  # as if the process had restarted
    app2 = ConfidentialClientApplication(
        CLIENT_ID, "secret", authority=f"{ENTRA}/{DOMAIN}", http_cache=http_cache
    )
    assert app2.authority.token_endpoint == app.authority.token_endpoint
    assert len(http.calls) == 1


def test_broken_http_cache_is_survivable(http: responses.RequestsMock) -> None:
    class Broken(dict):  # type: ignore[type-arg]
        def __setitem__(self, key: object, value: object) -> None:
            raise OSError("disk full")

        def get(self, key: object, default: object = None) -> object:
            raise OSError("disk gone")

    add_discovery(http)
    app = ConfidentialClientApplication(
        CLIENT_ID, "s", authority=f"{ENTRA}/{TENANT}", http_cache=Broken()
    )
    assert app.authority.token_endpoint


def test_instance_discovery_for_unknown_host(http: responses.RequestsMock) -> None:
    host = "https://login.contoso-cloud.example"
    http.get(
        f"{ENTRA}/common/discovery/instance",
        json={
            "tenant_discovery_endpoint": f"{host}/{TENANT}/v2.0/.well-known/openid-configuration"
        },
    )
    add_discovery(http, base=host)
    app = ConfidentialClientApplication(CLIENT_ID, "s", authority=f"{host}/{TENANT}")
    assert app.authority.token_endpoint == f"{host}/{TENANT}/oauth2/v2.0/token"
    first = http.calls[0].request
    assert "authorization_endpoint=https%3A%2F%2Flogin.contoso-cloud.example" in (first.url or "")


def test_unknown_instance_is_an_error_result(http: responses.RequestsMock) -> None:
    http.get(
        f"{ENTRA}/common/discovery/instance",
        status=400,
        json={
            "error": "invalid_instance",
            "error_description": "AADSTS50049: Unknown or invalid instance.",
        },
    )
    app = ConfidentialClientApplication(CLIENT_ID, "s", authority=f"https://evil.example/{TENANT}")
    result = app.acquire_token_for_client(["x/.default"])
    assert result["error"] == "invalid_instance"
    assert "instance_discovery=False" in result["error_description"]


def test_unknown_tenant_is_an_error_result(http: responses.RequestsMock) -> None:
    http.get(
        f"{ENTRA}/nosuch.example/v2.0/.well-known/openid-configuration",
        status=400,
        json={
            "error": "invalid_tenant",
            "error_description": "AADSTS90002: Tenant not found",
            "error_codes": [90002],
        },
    )
    app = ConfidentialClientApplication(CLIENT_ID, "s", authority=f"{ENTRA}/nosuch.example")
    result = app.acquire_token_for_client(["x/.default"])
    assert result["error"] == "invalid_tenant"
    assert result["error_codes"] == [90002]
    with pytest.raises(ValueError, match="AADSTS90002"):
        _ = app.authority.token_endpoint


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, "<html>proxy login</html>", "text/html"),
        (200, '{"token_endpoint": "https://login.microsoftonline.com/t/oau', "application/json"),
        (200, "[1, 2]", "application/json"),
        (200, '{"issuer": "x"}', "application/json"),
        (200, '{"token_endpoint": 42}', "application/json"),
        (200, '{"token_endpoint": "http://login.microsoftonline.com/t/token"}', "application/json"),
        (503, "Service Unavailable", "text/plain"),
        (500, "{}", "application/json"),
    ],
)
def test_malformed_discovery_is_an_error_result(
    http: responses.RequestsMock, status: int, body: str, content_type: str
) -> None:
    http.get(
        f"{ENTRA}/{DOMAIN}/v2.0/.well-known/openid-configuration",
        status=status,
        body=body,
        content_type=content_type,
    )
    app = ConfidentialClientApplication(CLIENT_ID, "s", authority=f"{ENTRA}/{DOMAIN}")
    result = app.acquire_token_for_client(["x/.default"])
    assert result["error"] in ("invalid_response", "invalid_authority")
    assert result["error_description"]
    assert all(c.request.method == "GET" for c in http.calls), "no credential may be sent"


def test_endpoint_on_another_host_is_refused(http: responses.RequestsMock) -> None:
    config = oidc_config(tenant=DOMAIN)
    config["token_endpoint"] = "https://attacker.example/steal"
    http.get(f"{ENTRA}/{DOMAIN}/v2.0/.well-known/openid-configuration", json=config)
    app = ConfidentialClientApplication(CLIENT_ID, "s", authority=f"{ENTRA}/{DOMAIN}")
    result = app.acquire_token_for_client(["x/.default"])
    assert result["error"] == "invalid_authority"
    assert "another host" in result["error_description"]
    assert len(http.calls) == 1


def test_generic_oidc_issuer(http: responses.RequestsMock) -> None:
    issuer = "https://idp.example.com/realms/demo"
    http.get(
        f"{issuer}/.well-known/openid-configuration",
        json={
            "issuer": issuer,
            "token_endpoint": "https://tokens.example.net/token",
            "authorization_endpoint": f"{issuer}/auth",
        },
    )
    http.post("https://tokens.example.net/token", json={"access_token": "at", "expires_in": 60})
    app = ConfidentialClientApplication(CLIENT_ID, "s", oidc_authority=issuer)
    assert app.acquire_token_for_client(["api"])["access_token"] == "at"


def test_generic_oidc_issuer_mismatch_is_refused(http: responses.RequestsMock) -> None:
    issuer = "https://idp.example.com/realms/demo"
    http.get(
        f"{issuer}/.well-known/openid-configuration",
        json={
            "issuer": "https://other.example.org/",
            "token_endpoint": "https://other.example.org/token",
        },
    )
    app = ConfidentialClientApplication(CLIENT_ID, "s", oidc_authority=issuer)
    result = app.acquire_token_for_client(["api"])
    assert result["error"] == "invalid_authority"
    assert "issuer" in result["error_description"]


def test_adfs_and_b2c_discovery_urls_are_used(http: responses.RequestsMock) -> None:
    adfs = "https://adfs.contoso.com/adfs"
    http.get(
        f"{adfs}/.well-known/openid-configuration",
        json={"issuer": adfs, "token_endpoint": f"{adfs}/oauth2/token"},
    )
    http.post(f"{adfs}/oauth2/token", json={"access_token": "adfs-at", "expires_in": 60})
    app = ConfidentialClientApplication(CLIENT_ID, "s", authority=adfs)
    assert app.acquire_token_for_client(["api"])["access_token"] == "adfs-at"
    assert app.authority.is_adfs
    b2c = "https://fab.b2clogin.com/fab.onmicrosoft.com/B2C_1_susi"
    http.get(
        f"{b2c}/v2.0/.well-known/openid-configuration",
        json={"token_endpoint": f"{b2c}/oauth2/v2.0/token"},
    )
    http.post(f"{b2c}/oauth2/v2.0/token", json={"access_token": "b2c-at", "expires_in": 60})
    app = ConfidentialClientApplication(CLIENT_ID, "s", authority=b2c)
    assert app.acquire_token_for_client(["api"])["access_token"] == "b2c-at"
    assert app.authority.is_b2c
