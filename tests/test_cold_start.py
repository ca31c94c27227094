"""Cold start: the first token of a new process on a well-known Entra cloud is one request
(the token request), with no discovery, in the blocking and the asyncio API alike; other
authorities are discovered (and unknown hosts validated) as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests
import responses

from identitylib import ConfidentialClientApplication, aio
from identitylib._authority._registry import REGISTRY

from .conftest import CLIENT_ID, TENANT, add_discovery

SCOPE = ["https://graph.microsoft.com/.default"]
TOKEN = {"access_token": "at", "expires_in": 3600, "token_type": "Bearer"}

KNOWN = [
    ("login.microsoftonline.com", TENANT),
    ("login.microsoftonline.com", "consumers"),
    ("login.windows.net", TENANT),
    ("login.microsoftonline.us", TENANT),
    ("login.chinacloudapi.cn", TENANT),
    ("login.partner.microsoftonline.cn", "consumers"),
    ("login.sovcloud-identity.fr", TENANT),
]


def first_token(authority: str, *, asynchronous: bool) -> dict[str, Any]:
    """The first client-credentials token of a new app object (blocking or asyncio API);
    the asyncio app is given a ``requests`` session, which ``responses`` intercepts."""
    if not asynchronous:
        app = ConfidentialClientApplication(CLIENT_ID, "secret", authority=authority)
        return app.acquire_token_for_client(SCOPE)

    async def main() -> dict[str, Any]:
        app = aio.ConfidentialClientApplication(
            CLIENT_ID, "secret", authority=authority, http_client=requests.Session()
        )
        return await app.acquire_token_for_client(SCOPE)

    return asyncio.run(main())


@pytest.mark.parametrize("asynchronous", [False, True], ids=["blocking", "asyncio"])
@pytest.mark.parametrize(("host", "tenant"), KNOWN)
def test_first_token_on_a_known_cloud_is_one_request(
    http: responses.RequestsMock, host: str, tenant: str, asynchronous: bool
) -> None:
    endpoint = f"https://{host}/{tenant}/oauth2/v2.0/token"
    http.post(endpoint, json=TOKEN)
    result = first_token(f"https://{host}/{tenant}", asynchronous=asynchronous)
    assert result.get("access_token") == "at", result
    assert [(c.request.method, c.request.url) for c in http.calls] == [("POST", endpoint)]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["blocking", "asyncio"])
def test_a_domain_tenant_is_still_discovered(
    http: responses.RequestsMock, asynchronous: bool
) -> None:
    # Its token endpoint (and the cache realm) names the tenant GUID, known only from
    # discovery.
    endpoint = add_discovery(http, tenant="contoso.onmicrosoft.com")
    http.post(endpoint, json=TOKEN)
    result = first_token(
        "https://login.microsoftonline.com/contoso.onmicrosoft.com", asynchronous=asynchronous
    )
    assert result.get("access_token") == "at", result
    assert [c.request.method for c in http.calls] == ["GET", "POST"]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["blocking", "asyncio"])
def test_an_unknown_host_is_still_validated(
    http: responses.RequestsMock, asynchronous: bool
) -> None:
    base = "https://login.contoso.example"
    http.get(
        "https://login.microsoftonline.com/common/discovery/instance",
        json={
            "tenant_discovery_endpoint": f"{base}/{TENANT}/v2.0/.well-known/openid-configuration"
        },
    )
    endpoint = add_discovery(http, base=base)
    http.post(endpoint, json=TOKEN)
    result = first_token(f"{base}/{TENANT}", asynchronous=asynchronous)
    assert result.get("access_token") == "at", result
    assert [c.request.method for c in http.calls] == ["GET", "GET", "POST"]
    assert "/common/discovery/instance" in str(http.calls[0].request.url)


def test_b2c_is_still_discovered(http: responses.RequestsMock) -> None:
    base = "https://contoso.b2clogin.com"
    path = "contoso.onmicrosoft.com/b2c_1_signin"
    config = {
        "issuer": f"{base}/{TENANT}/v2.0/",
        "token_endpoint": f"{base}/{path}/oauth2/v2.0/token",
        "authorization_endpoint": f"{base}/{path}/oauth2/v2.0/authorize",
    }
    http.get(f"{base}/{path}/v2.0/.well-known/openid-configuration", json=config)
    http.post(config["token_endpoint"], json=TOKEN)
    app = ConfidentialClientApplication(CLIENT_ID, "secret", authority=f"{base}/{path}")
    assert app.acquire_token_for_client(SCOPE).get("access_token") == "at"
    assert [c.request.method for c in http.calls] == ["GET", "POST"]


def test_a_persisted_discovery_document_still_wins(http: responses.RequestsMock) -> None:
    # A document discovered earlier (here: with a token endpoint elsewhere on the cloud)
    # is used as before; the built-in endpoints only replace a discovery that never ran.
    http_cache: dict[object, object] = {}
    regional = f"https://westus2.login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    config = {
        "token_endpoint": regional,
        "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
    }
    app = ConfidentialClientApplication(
        CLIENT_ID,
        "secret",
        authority=f"https://login.microsoftonline.com/{TENANT}",
        http_cache=http_cache,
    )
    REGISTRY.put(app.authority.trust, app.authority.discovery_key, config, http_cache)
    http.post(regional, json=TOKEN)
    assert app.acquire_token_for_client(SCOPE).get("access_token") == "at"
    assert [c.request.url for c in http.calls] == [regional]
