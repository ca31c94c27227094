"""Discovery documents, JWKS and rollover, instance discovery, user realm."""

from __future__ import annotations

import base64
import hashlib
from typing import Optional

import jwt
import pytest

from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_DOMAIN,
)

from .provider_support import (
    BASE,
    TENANT,
    World,
    assert_error,
    body,
    decode,
    make_world,
    token,
)

MSA = "9188040d-6c67-4c5b-b112-36a304b66dad"


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.mark.parametrize(
    ("segment", "path", "issuer_tenant", "region"),
    [
        (TENANT, TENANT, TENANT, "WW"),
        (TENANT.upper(), TENANT, TENANT, "WW"),
        (DEMO_TENANT_DOMAIN, TENANT, TENANT, "WW"),
        ("common", "common", "{tenantid}", None),
        ("organizations", "organizations", "{tenantid}", None),
        ("consumers", "consumers", MSA, None),
    ],
)
def test_openid_configuration_per_tenant_form(
    world: World, segment: str, path: str, issuer_tenant: str, region: Optional[str]
) -> None:
    reply = world.provider.openid_configuration(BASE, segment)
    doc = body(reply)
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "max-age=86400, private"
    assert doc["issuer"] == f"{BASE}/{issuer_tenant}/v2.0"
    assert doc["authorization_endpoint"] == f"{BASE}/{path}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{BASE}/{path}/oauth2/v2.0/token"
    assert doc["device_authorization_endpoint"] == f"{BASE}/{path}/oauth2/v2.0/devicecode"
    assert doc["end_session_endpoint"] == f"{BASE}/{path}/oauth2/v2.0/logout"
    assert doc["jwks_uri"] == f"{BASE}/{path}/discovery/v2.0/keys"
    assert doc["tenant_region_scope"] == region
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_post",
        "private_key_jwt",
        "client_secret_basic",
    ]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["pairwise"]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]


def test_unknown_tenant_discovery_is_invalid_tenant(world: World) -> None:
    reply = world.provider.openid_configuration(
        BASE, "nosuchtenant.example", headers={"client-request-id": "corr-123"}
    )
    data = assert_error(reply, "invalid_tenant", 90002)
    assert data["correlation_id"] == "corr-123"
    assert "Correlation ID: corr-123" in data["error_description"]
    assert data["error_uri"] == f"{BASE}/error?code=90002"
    assert len(data["timestamp"]) == 20
    assert data["timestamp"].endswith("Z")
    assert_error(world.provider.jwks("nosuchtenant.example"), "invalid_tenant", 90002)


def test_unknown_tenant_at_token_endpoint_is_invalid_request(world: World) -> None:
    reply = token(
        world,
        {"grant_type": "client_credentials", "client_id": DEMO_DAEMON_ID},
        tenant="nosuchtenant.example",
    )
    assert_error(reply, "invalid_request", 90002)


def test_jwks_shape(world: World) -> None:
    reply = world.provider.jwks("common", base_url=BASE)
    assert reply.headers["Cache-Control"] == "max-age=86400, private"
    (key,) = body(reply)["keys"]
    assert {"kty", "use", "kid", "x5t", "n", "e", "x5c", "issuer"} <= set(key)
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["e"] == "AQAB"
    der = base64.b64decode(key["x5c"][0])
    thumb = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
    assert key["kid"] == key["x5t"] == thumb
    assert key["issuer"] == f"{BASE}/{{tenantid}}/v2.0"
    modulus = int.from_bytes(base64.urlsafe_b64decode(key["n"] + "=="), "big")
    assert modulus.bit_length() == 2048
    assert "issuer" not in body(world.provider.jwks(TENANT))["keys"][0]


def test_rollover_keeps_old_tokens_verifiable() -> None:
    world = make_world()
    form = {
        "grant_type": "client_credentials",
        "client_id": DEMO_DAEMON_ID,
        "client_secret": DEMO_DAEMON_SECRET,
        "scope": "api://demo-api/.default",
    }
    before = body(token(world, form))["access_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    new_kid = world.provider.rollover_signing_key()
    assert new_kid != old_kid
    after = body(token(world, form))["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    kids = [k["kid"] for k in body(world.provider.jwks(TENANT))["keys"]]
    assert set(kids) == {old_kid, new_kid}
    assert decode(world, before, DEMO_API_ID)["aud"] == DEMO_API_ID
    assert decode(world, after, DEMO_API_ID)["aud"] == DEMO_API_ID


def test_instance_discovery_for_microsoft_host(world: World) -> None:
    reply = world.provider.instance_discovery(
        BASE,
        {
            "api-version": "1.1",
            "authorization_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
        },
    )
    data = body(reply)
    assert data["tenant_discovery_endpoint"] == (
        "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
    )
    assert data["api-version"] == "1.1"
    public = data["metadata"][0]
    assert public["preferred_network"] == "login.microsoftonline.com"
    assert public["preferred_cache"] == "login.windows.net"
    assert "sts.windows.net" in public["aliases"]
    own = data["metadata"][-1]
    assert own["aliases"] == ["localhost:8443", "localhost"]


def test_instance_discovery_for_emulator_host_restores_port(world: World) -> None:
    # MSAL drops the port when it builds the authorization endpoint it validates.
    reply = world.provider.instance_discovery(
        BASE,
        {
            "api-version": "1.0",
            "authorization_endpoint": f"https://localhost/{TENANT}/oauth2/v2.0/authorize",
        },
    )
    assert body(reply)["tenant_discovery_endpoint"] == (
        f"{BASE}/{TENANT}/v2.0/.well-known/openid-configuration"
    )
    v1 = world.provider.instance_discovery(
        BASE, {"authorization_endpoint": f"{BASE}/common/oauth2/authorize"}
    )
    assert (
        body(v1)["tenant_discovery_endpoint"] == f"{BASE}/common/.well-known/openid-configuration"
    )


@pytest.mark.parametrize(
    "endpoint", ["https://evil.example/common/oauth2/v2.0/authorize", "not a url", "https://"]
)
def test_instance_discovery_rejects_unknown_hosts(world: World, endpoint: str) -> None:
    reply = world.provider.instance_discovery(BASE, {"authorization_endpoint": endpoint})
    assert_error(reply, "invalid_instance", 50049)


def test_instance_discovery_needs_endpoint(world: World) -> None:
    assert_error(world.provider.instance_discovery(BASE, {}), "invalid_request", 900144)


def test_user_realm(world: World) -> None:
    managed = body(world.provider.user_realm("Alice@Contoso.onmicrosoft.com", base_url=BASE))
    assert managed == {
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": "contoso.onmicrosoft.com",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }
    for unknown in ("x@unknown.example", "no-at-sign"):
        assert body(world.provider.user_realm(unknown, base_url=BASE))["account_type"] == "Unknown"
    federated = body(world.provider.user_realm("Carol@Fabrikam.Example", base_url=BASE))
    assert federated == {
        "ver": "1.0",
        "account_type": "Federated",
        "domain_name": "fabrikam.example",
        "federation_protocol": "WSTrust",
        "federation_metadata_url": f"{BASE}/adfs/services/trust/mex",
        "federation_active_auth_url": f"{BASE}/adfs/services/trust/2005/usernamemixed",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }
