"""SSH certificates (data={"token_type": "ssh-cert", "key_id", "req_cnf"}): argument checks
and one cached certificate per key_id, apart from Bearer tokens, for client credentials,
silent calls and on-behalf-of."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from identitylib import ConfidentialClientApplication

from .conftest import CLIENT_ID, TENANT, add_discovery
from .test_client_credentials import body_of, token_json
from .test_silent_support import TOKEN_ENDPOINT, public_app, ropc_sign_in, user_token

AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
SCOPE = ["https://pas.windows.net/CheckMyAccess/Linux/.default"]
JWK = json.dumps({"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "key1"})


def ssh_data(key_id: str = "key1") -> dict[str, str]:
    return {"token_type": "ssh-cert", "key_id": key_id, "req_cnf": JWK}


def ssh_token(cert: str = "ssh-cert-1", **extra: Any) -> dict[str, Any]:
    return token_json(cert, token_type="ssh-cert", **extra)


def make_app() -> ConfidentialClientApplication:
    return ConfidentialClientApplication(CLIENT_ID, "s3cret", authority=AUTHORITY)


def posts(http: responses.RequestsMock) -> list[Any]:
    return [c for c in http.calls if c.request.method == "POST"]


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({"token_type": "ssh-cert", "key_id": "k"}, "req_cnf"),
        ({"token_type": "ssh-cert", "req_cnf": JWK}, "key_id"),
        ({"token_type": "ssh-cert", "key_id": "", "req_cnf": JWK}, "key_id"),
        ({"token_type": "ssh-cert"}, "req_cnf"),
    ],
)
def test_client_credentials_need_key_id_and_req_cnf(
    http: responses.RequestsMock, data: dict[str, str], missing: str
) -> None:
    with pytest.raises(ValueError, match=missing):
        make_app().acquire_token_for_client(SCOPE, data=data)
    with pytest.raises(ValueError, match=missing):
        make_app().acquire_token_on_behalf_of("incoming.jwt.token", ["User.Read"], data=data)
    assert len(http.calls) == 0


def test_other_token_types_are_not_checked(http: responses.RequestsMock) -> None:
    http.post(add_discovery(http), json=token_json())
    result = make_app().acquire_token_for_client(SCOPE, data={"token_type": "bearer"})
    assert "access_token" in result


def test_client_credentials_cache_one_certificate_per_key(
    http: responses.RequestsMock,
) -> None:
    endpoint = add_discovery(http)
    http.post(endpoint, json=ssh_token("cert-key1"))
    app = make_app()
    first = app.acquire_token_for_client(SCOPE, data=ssh_data("key1"))
    assert (first["access_token"], first["token_type"]) == ("cert-key1", "ssh-cert")
    body = body_of(posts(http)[-1])
    assert (body["token_type"], body["key_id"], body["req_cnf"]) == ("ssh-cert", "key1", JWK)

    again = app.acquire_token_for_client(SCOPE, data=ssh_data("key1"))
    assert (again["token_source"], again["token_type"]) == ("cache", "ssh-cert")
    assert len(posts(http)) == 1

    http.upsert(responses.POST, endpoint, json=ssh_token("cert-key2"))
    other = app.acquire_token_for_client(SCOPE, data=ssh_data("key2"))
    assert other["access_token"] == "cert-key2"
    assert len(posts(http)) == 2

    # A certificate is only ever served for its own key, and never as a Bearer token.
    http.upsert(responses.POST, endpoint, json=token_json("bearer-at"))
    assert app.acquire_token_for_client(SCOPE)["access_token"] == "bearer-at"
    http.upsert(responses.POST, endpoint, json=ssh_token("cert-key1-b"))
    key1 = app.acquire_token_for_client(SCOPE, data=ssh_data("key1"))
    assert key1["access_token"] in ("cert-key1", "cert-key1-b")
    assert key1["token_type"] == "ssh-cert"
    entries = app.token_cache._cache["AccessToken"].values()
    assert all(e.get("key_id") in (None, "key1", "key2") for e in entries)


@pytest.mark.xfail(
    strict=True,
    reason="kept for compatibility: the AT cache key has no key_id in MSAL's key format, so a "
    "certificate for another key replaces the cached one (never served to the wrong key)",
)
def test_certificates_of_several_keys_coexist(http: responses.RequestsMock) -> None:
    endpoint = add_discovery(http)
    app = make_app()
    for cert, data in (("cert-key1", ssh_data("key1")), ("cert-key2", ssh_data("key2"))):
        http.upsert(responses.POST, endpoint, json=ssh_token(cert))
        app.acquire_token_for_client(SCOPE, data=data)
    http.upsert(responses.POST, endpoint, json=token_json("bearer-at"))
    app.acquire_token_for_client(SCOPE)
    calls = len(posts(http))
    assert app.acquire_token_for_client(SCOPE, data=ssh_data("key1"))["token_source"] == "cache"
    assert app.acquire_token_for_client(SCOPE, data=ssh_data("key2"))["token_source"] == "cache"
    assert len(posts(http)) == calls


def test_silent_caches_one_certificate_per_key(http: responses.RequestsMock) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token("bearer-at"))
    (account,) = app.get_accounts()
    scopes = ["https://pas.windows.net/CheckMyAccess/Linux/user_impersonation"]
    cert_scope = f"{scopes[0]} openid profile"
    http.upsert(
        responses.POST,
        TOKEN_ENDPOINT,
        json=user_token("cert-key1", "rt-2", scope=cert_scope, token_type="ssh-cert"),
    )
    first = app.acquire_token_silent(scopes, account, data=ssh_data("key1"))
    assert first is not None
    assert (first["access_token"], first["token_type"]) == ("cert-key1", "ssh-cert")
    body = body_of(posts(http)[-1])
    assert (body["grant_type"], body["token_type"], body["key_id"]) == (
        "refresh_token",
        "ssh-cert",
        "key1",
    )
    calls = len(posts(http))
    again = app.acquire_token_silent(scopes, account, data=ssh_data("key1"))
    assert again is not None
    assert (again["token_source"], again["access_token"]) == ("cache", "cert-key1")
    assert len(posts(http)) == calls

    http.upsert(
        responses.POST,
        TOKEN_ENDPOINT,
        json=user_token("cert-key2", "rt-3", scope=cert_scope, token_type="ssh-cert"),
    )
    other = app.acquire_token_silent(scopes, account, data=ssh_data("key2"))
    assert other is not None
    assert other["access_token"] == "cert-key2"
    # The Bearer token of the sign-in is still what a plain silent call gets.
    plain = app.acquire_token_silent(["User.Read"], account)
    assert plain is not None
    assert plain["access_token"] == "bearer-at"


def test_silent_needs_key_id_and_req_cnf(http: responses.RequestsMock) -> None:
    app = public_app()
    ropc_sign_in(http, app, user_token())
    (account,) = app.get_accounts()
    calls = len(http.calls)
    with pytest.raises(ValueError, match="key_id"):
        app.acquire_token_silent(
            ["User.Read"], account, data={"token_type": "ssh-cert", "req_cnf": JWK}
        )
    assert len(http.calls) == calls
