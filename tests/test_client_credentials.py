"""acquire_token_for_client with every credential form, caching and malformed responses."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses

from identitylib import (
    ConfidentialClientApplication,
    PublicClientApplication,
    SerializableTokenCache,
)
from tests._fakes import MsalStyleClient

from .conftest import CLIENT_ID, TENANT, add_discovery

AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
SCOPE = ["https://graph.microsoft.com/.default"]


def body_of(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def token_json(access_token: str = "at-1", **extra: Any) -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token,
        **extra,
    }


@pytest.fixture
def token_endpoint(http: responses.RequestsMock) -> str:
    return add_discovery(http)


def make_app(credential: Any = "s3cret", **kwargs: Any) -> ConfidentialClientApplication:
    return ConfidentialClientApplication(CLIENT_ID, credential, authority=AUTHORITY, **kwargs)


def test_secret_request_shape(http: responses.RequestsMock, token_endpoint: str) -> None:
    http.post(token_endpoint, json=token_json())
    result = make_app(app_name="demo", app_version="1.2").acquire_token_for_client(SCOPE)
    assert result["access_token"] == "at-1"
    assert result["token_source"] == "identity_provider"
    assert result["expires_in"] == 3599
    post = http.calls[-1]
    assert body_of(post) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "scope": SCOPE[0],
        "client_info": "1",
        "client_secret": "s3cret",
    }
    headers = post.request.headers
    assert headers["x-app-name"] == "demo"
    assert headers["x-app-ver"] == "1.2"
    assert headers["client-request-id"]
    assert headers["Accept"] == "application/json"


def test_cache_hit_needs_no_request(http: responses.RequestsMock, token_endpoint: str) -> None:
    http.post(token_endpoint, json=token_json())
    app = make_app()
    first = app.acquire_token_for_client(SCOPE)
    calls = len(http.calls)
    second = app.acquire_token_for_client(SCOPE)
    assert len(http.calls) == calls
    assert second["access_token"] == first["access_token"]
    assert second["token_source"] == "cache"
    assert set(second) == {"access_token", "token_type", "expires_in", "token_source"}
    assert 3500 < second["expires_in"] <= 3599


def test_scopes_are_cached_separately(http: responses.RequestsMock, token_endpoint: str) -> None:
    http.post(token_endpoint, json=token_json("a"))
    app = make_app()
    app.acquire_token_for_client(["api://one/.default"])
    http.replace(responses.POST, token_endpoint, json=token_json("b"))
    assert app.acquire_token_for_client(["api://two/.default"])["access_token"] == "b"
    assert app.acquire_token_for_client(["api://one/.default"])["access_token"] == "a"


def test_certificate_credential(http: responses.RequestsMock, token_endpoint: str) -> None:
    from .certs import make_certificate

    cert = make_certificate()
    http.post(token_endpoint, json=token_json())
    app = make_app(
        {
            "private_key": cert.private_key_pem,
            "thumbprint": cert.sha1_hex,
            "public_certificate": cert.certificate_pem,
        }
    )
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "at-1"
    body = body_of(http.calls[-1])
    assert body["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assertion = body["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "RS256"
    assert "x5t" in header
    assert "x5c" in header
    claims = jwt.decode(assertion, cert.public_key, algorithms=["RS256"], audience=token_endpoint)
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert "client_secret" not in body


def test_certificate_sha256_form(http: responses.RequestsMock, token_endpoint: str) -> None:
    from .certs import make_certificate

    cert = make_certificate(passphrase=b"pw")
    http.post(token_endpoint, json=token_json())
    app = make_app(
        {
            "private_key": cert.private_key_pem,
            "public_certificate": cert.certificate_pem,
            "passphrase": "pw",
        },
        client_claims={"extra": "yes"},
    )
    app.acquire_token_for_client(SCOPE)
    assertion = body_of(http.calls[-1])["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "PS256"
    assert "x5t#S256" in header
    claims = jwt.decode(assertion, cert.public_key, algorithms=["PS256"], audience=token_endpoint)
    assert claims["extra"] == "yes"


def test_assertion_string_and_callable(http: responses.RequestsMock, token_endpoint: str) -> None:
    http.post(token_endpoint, json=token_json())
    with pytest.warns(DeprecationWarning, match="callable"):
        app = make_app({"client_assertion": "static.jwt.value"})
    app.acquire_token_for_client(SCOPE)
    assert body_of(http.calls[-1])["client_assertion"] == "static.jwt.value"

    seen: list[dict[str, str]] = []

    def provide(context: dict[str, str]) -> str:
        seen.append(context)
        return "dynamic.jwt.value"

    app = make_app({"client_assertion": provide})
    app.acquire_token_for_client(["other/.default"])
    assert body_of(http.calls[-1])["client_assertion"] == "dynamic.jwt.value"
    assert seen == [{"client_id": CLIENT_ID, "token_endpoint": token_endpoint}]
    app.acquire_token_for_client(["other/.default"])
    assert len(seen) == 1, "a cache hit must not call the assertion provider"


def test_failing_assertion_callable_is_an_error_result(
    http: responses.RequestsMock, token_endpoint: str
) -> None:
    def broken() -> str:
        raise RuntimeError("vault unreachable")

    result = make_app({"client_assertion": broken}).acquire_token_for_client(SCOPE)
    assert result["error"] == "invalid_client_credential"
    assert all(c.request.method == "GET" for c in http.calls)


def test_refresh_in_becomes_refresh_on_and_proactive_refresh(
    http: responses.RequestsMock, token_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from identitylib._flows._state import AppState

    clock = [1_000_000.0]
    monkeypatch.setattr(AppState, "now", staticmethod(lambda: clock[0]))
    http.post(token_endpoint, json=token_json("old", expires_in=7200, refresh_in=3600))
    app = make_app(background_refresh=False)  # the refresh in the call itself
    first = app.acquire_token_for_client(SCOPE)
    assert first["refresh_on"] == 1_000_000 + 3600
    assert "refresh_in" not in first
    clock[0] += 3601
    http.replace(responses.POST, token_endpoint, json=token_json("new", expires_in=7200))
    refreshed = app.acquire_token_for_client(SCOPE)
    assert refreshed["access_token"] == "new"
    assert refreshed["token_source"] == "identity_provider"


@pytest.mark.parametrize("failure", ["error_dict", "server_error", "connection"])
def test_failed_proactive_refresh_serves_cached_token(
    http: responses.RequestsMock, token_endpoint: str, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    from identitylib._flows._state import AppState

    clock = [1_000_000.0]
    monkeypatch.setattr(AppState, "now", staticmethod(lambda: clock[0]))
    http.post(token_endpoint, json=token_json("old", expires_in=7200, refresh_in=3600))
    app = make_app(background_refresh=False)  # the refresh in the call itself
    app.acquire_token_for_client(SCOPE)
    clock[0] += 3601
    if failure == "error_dict":
        http.replace(responses.POST, token_endpoint, status=400, json={"error": "invalid_client"})
    elif failure == "server_error":
        http.replace(responses.POST, token_endpoint, status=503, body="<html>busy</html>")
    else:
        http.replace(responses.POST, token_endpoint, body=requests.ConnectionError("down"))
    result = app.acquire_token_for_client(SCOPE)
    assert result["access_token"] == "old"
    assert result["token_source"] == "cache"


def test_claims_challenge_bypasses_cache_and_merges_capabilities(
    http: responses.RequestsMock, token_endpoint: str
) -> None:
    http.post(token_endpoint, json=token_json())
    app = make_app(client_capabilities=["CP1"])
    app.acquire_token_for_client(SCOPE)
    assert json.loads(body_of(http.calls[-1])["claims"]) == {
        "access_token": {"xms_cc": {"values": ["CP1"]}}
    }
    challenge = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}'
    result = app.acquire_token_for_client(SCOPE, claims_challenge=challenge)
    assert result["token_source"] == "identity_provider"
    claims = json.loads(body_of(http.calls[-1])["claims"])
    assert claims["access_token"]["nbf"]["value"] == "1700000000"
    assert claims["access_token"]["xms_cc"] == {"values": ["CP1"]}


def test_server_error_passes_through(http: responses.RequestsMock, token_endpoint: str) -> None:
    error = {
        "error": "invalid_scope",
        "error_description": "AADSTS1002012: bad scope",
        "error_codes": [1002012],
        "trace_id": "t",
        "correlation_id": "c",
    }
    http.post(token_endpoint, status=400, json=error)
    cache = SerializableTokenCache()
    result = make_app(token_cache=cache).acquire_token_for_client(["User.Read"])
    assert result == error
    assert not cache.has_state_changed


def test_correlation_id_added_to_errors_without_one(
    http: responses.RequestsMock, token_endpoint: str
) -> None:
    http.post(token_endpoint, status=401, json={"error": "invalid_client"})
    result = make_app().acquire_token_for_client(SCOPE)
    assert result["error"] == "invalid_client"
    assert result["correlation_id"] == http.calls[-1].request.headers["client-request-id"]
    assert result["error_description"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "<html><body>Sign in to the proxy</body></html>"),
        (200, '{"access_token": "at", "expires_in": 36'),
        (200, "[]"),
        (200, "null"),
        (200, '"just a string"'),
        (200, "{}"),
        (200, '{"token_type": "Bearer", "expires_in": 3600}'),
        (200, '{"access_token": 12345, "expires_in": 3600}'),
        (200, '{"access_token": "at", "expires_in": -5}'),
        (200, '{"access_token": "at", "expires_in": "soon"}'),
        (200, '{"access_token": "at", "expires_in": [1]}'),
        (200, '{"access_token": "at", "expires_in": 3600, "token_type": 7}'),
        (200, '{"access_token": "at", "expires_in": 3600, "id_token": "not-a-jwt"}'),
        (200, '{"access_token": "at", "expires_in": 3600, "refresh_token": {"x": 1}}'),
        (200, '{"access_token": "at", "expires_in": 3600, "client_info": "%%%"}'),
        (400, '{"error": 42}'),
        (400, "Bad Request"),
        (500, ""),
        (502, "<html>Bad gateway</html>"),
        (404, '{"message": "not found"}'),
        (200, "[" * 100000),
    ],
)
def test_malformed_token_responses_become_error_results(
    http: responses.RequestsMock, token_endpoint: str, status: int, body: str
) -> None:
    http.post(token_endpoint, status=status, body=body, content_type="application/json")
    cache = SerializableTokenCache()
    result = make_app(token_cache=cache).acquire_token_for_client(SCOPE)
    assert result["error"]
    assert isinstance(result["error_description"], str)
    assert result["error_description"]
    assert "access_token" not in result
    assert not cache.has_state_changed, "nothing may be cached from a bad response"
    assert json.loads(cache.serialize()) == {}


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [("3600", 3600), (3600.7, 3600), (10**12, 7 * 24 * 3600), (None, 600)],
)
def test_lifetime_normalisation(
    http: responses.RequestsMock, token_endpoint: str, expires_in: Any, expected: int
) -> None:
    body: dict[str, Any] = {"access_token": "at", "token_type": "Bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    http.post(token_endpoint, json=body)
    result = make_app().acquire_token_for_client(SCOPE)
    assert result["expires_in"] == expected


def test_ssh_cert_key_id_is_part_of_the_cache_lookup(
    http: responses.RequestsMock, token_endpoint: str
) -> None:
    http.post(token_endpoint, json=token_json("cert-1", token_type="ssh-cert"))
    app = make_app()
    data = {"token_type": "ssh-cert", "key_id": "key1", "req_cnf": "{}"}
    app.acquire_token_for_client(SCOPE, data=data)
    assert body_of(http.calls[-1])["key_id"] == "key1"
    assert app.acquire_token_for_client(SCOPE, data=data)["token_source"] == "cache"
    http.replace(responses.POST, token_endpoint, json=token_json("cert-2", token_type="ssh-cert"))
    other = app.acquire_token_for_client(SCOPE, data={**data, "key_id": "key2"})
    assert other["access_token"] == "cert-2"


def test_api_misuse_raises_helpful_errors() -> None:
    with pytest.raises(ValueError, match="no credential"):
        PublicClientApplication(CLIENT_ID, client_credential="secret")
    with pytest.raises(ValueError, match="client_credential"):
        ConfidentialClientApplication(CLIENT_ID)
    with pytest.raises(ValueError, match="client_id"):
        ConfidentialClientApplication("", "secret")
    app = make_app()
    with pytest.raises(ValueError, match=r"\['https://graph"):
        app.acquire_token_for_client("https://graph.microsoft.com/.default")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="force_refresh"):
        app.acquire_token_for_client(SCOPE, force_refresh=True)
    with pytest.raises(TypeError):
        make_app(token_cache=object())
    with pytest.raises(TypeError):
        make_app(http_client=object())
    with pytest.raises(ValueError, match="openid"):
        make_app(exclude_scopes=["openid"])
    with pytest.raises(ValueError, match="claims_challenge"):
        app.acquire_token_for_client(SCOPE, claims_challenge="{not json")


def test_common_tenant_warns(http: responses.RequestsMock) -> None:
    token_endpoint = add_discovery(http, tenant="organizations")
    http.post(token_endpoint, json=token_json())
    app = ConfidentialClientApplication(
        CLIENT_ID, "s", authority="https://login.microsoftonline.com/organizations"
    )
    with pytest.warns(DeprecationWarning, match="specific tenant"):
        app.acquire_token_for_client(SCOPE)


def test_custom_http_client_is_used(token_endpoint: str) -> None:
    client = MsalStyleClient({}, {token_endpoint: token_json("custom")})
    app = make_app(http_client=client)
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "custom"
    assert client.get.calls == []  # a well-known cloud: no discovery
    assert [url for url, _, _ in client.post.calls] == [token_endpoint]
    client.post.check()


def test_fmi_path_and_forwarded_claims_key_the_cache(
    http: responses.RequestsMock, token_endpoint: str
) -> None:
    http.post(token_endpoint, json=token_json("plain"))
    app = make_app()
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "plain"
    http.replace(responses.POST, token_endpoint, json=token_json("fmi-a"))
    assert app.acquire_token_for_client(SCOPE, fmi_path="a/b")["access_token"] == "fmi-a"
    assert body_of(http.calls[-1])["fmi_path"] == "a/b"
    http.replace(responses.POST, token_endpoint, json=token_json("forwarded"))
    forwarded = '{"access_token":{"xms_ds_nonce":{"value":"n"}}}'
    result = app.acquire_token_for_client(SCOPE, forwarded_client_claims=forwarded)
    assert result["access_token"] == "forwarded"
    body = body_of(http.calls[-1])
    assert "client_claims" not in body
    assert json.loads(body["claims"]) == json.loads(forwarded)
    calls = len(http.calls)
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "plain"
    assert app.acquire_token_for_client(SCOPE, fmi_path="a/b")["access_token"] == "fmi-a"
    again = app.acquire_token_for_client(SCOPE, forwarded_client_claims=forwarded)
    assert again["access_token"] == "forwarded"
    assert len(http.calls) == calls
    with pytest.raises(ValueError, match="fmi_path"):
        app.acquire_token_for_client(SCOPE, fmi_path=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="forwarded_client_claims"):
        app.acquire_token_for_client(SCOPE, forwarded_client_claims="[1]")


def test_access_hooks_get_the_app_partition_key(
    http: responses.RequestsMock, token_endpoint: str
) -> None:
    seen: list[tuple[str, str | None, bool, bool]] = []
    cache = SerializableTokenCache(
        before_access=lambda a: seen.append(("before", a.partition_key, a.is_app_cache, False)),
        after_access=lambda a: seen.append(
            ("after", a.partition_key, a.is_app_cache, a.has_state_changed)
        ),
    )
    http.post(token_endpoint, json=token_json())
    app = make_app(token_cache=cache)
    app.acquire_token_for_client(SCOPE)
    app.acquire_token_for_client(SCOPE)
    key = f"{CLIENT_ID}_{TENANT}_AppTokenCache"
    assert seen == [
        ("before", key, True, False),  # lookup: miss
        ("after", key, True, False),
        ("before", key, True, False),  # write
        ("after", key, True, True),
        ("before", key, True, False),  # lookup: hit
        ("after", key, True, True),
    ]


def test_debug_logs_never_carry_secrets(
    http: responses.RequestsMock, token_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    from .certs import make_certificate

    cert = make_certificate(passphrase=b"key-passphrase")
    http.post(token_endpoint, json=token_json("SECRET-ACCESS-TOKEN", refresh_in=60))
    caplog.set_level("DEBUG")
    credentials: list[Any] = [
        "SECRET-CLIENT-SECRET",
        {"client_assertion": lambda: "SECRET.ASSERTION.JWT"},
        {
            "private_key": cert.private_key_pem,
            "public_certificate": cert.certificate_pem,
            "passphrase": "key-passphrase",
        },
    ]
    for credential in credentials:
        app = make_app(credential, token_cache=SerializableTokenCache())
        app.acquire_token_for_client(SCOPE)
        app.acquire_token_for_client(SCOPE)
    assertions = [body_of(c).get("client_assertion") for c in http.calls if c.request.body]
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    forbidden = [
        "SECRET-CLIENT-SECRET",
        "SECRET.ASSERTION.JWT",
        "SECRET-ACCESS-TOKEN",
        "key-passphrase",
    ]
    forbidden += [a for a in assertions if a]
    forbidden.append(
        cert.private_key_pem.decode()
        if isinstance(cert.private_key_pem, bytes)
        else cert.private_key_pem
    )
    assert caplog.records, "the flows should log something at DEBUG"
    for secret in forbidden:
        assert secret not in text
