"""Protected-API guards of identitylib.web: a good token, and every bad kind of token.

The issuer is an Entra-like fake served by ``responses`` (tests/test_validation_fakes.py):
its keys are the test's, so each bad token can be made exactly. Each answer is checked as
a caller sees it: the status, the RFC 6750 ``WWW-Authenticate`` header and the JSON body.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import responses

from tests._servers import require_module
from tests.test_validation_fakes import (
    API_ID,
    AUTHORITY,
    DROP,
    KEY_B,
    OTHER_TENANT,
    FakeIssuer,
    reset_caches,
)

flask = require_module("flask")

from identitylib.web.flask import FlaskApiGuard  # noqa: E402

NOW = int(time.time())


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def issuer(http: responses.RequestsMock) -> FakeIssuer:
    http.add_passthru("http://localhost")  # Flask's test client does not use requests
    return FakeIssuer(http)


@pytest.fixture
def client(issuer: FakeIssuer) -> Any:
    app = flask.Flask(__name__)
    guard = FlaskApiGuard(app, authority=AUTHORITY, audience=API_ID,
                          allowed_tenants=[issuer.tenant])  # fmt: skip

    @app.get("/orders")
    @guard.require(scopes=["access_as_user"])
    def orders() -> Any:
        return {"oid": guard.caller.claims["oid"], "scopes": guard.caller.scopes}

    @app.get("/admin")
    @guard.require(roles=["Orders.ReadAll"])
    def admin() -> Any:
        return {"roles": guard.caller.roles, "app": guard.caller.is_app}

    return app.test_client()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def _hs256(issuer: FakeIssuer) -> str:
    import jwt

    return jwt.encode(issuer.claims(), "a-shared-secret-of-32-bytes-at-least!", algorithm="HS256",
                      headers={"kid": "kid-a"})  # fmt: skip


BAD: dict[str, Callable[[FakeIssuer], str]] = {
    "wrong issuer": lambda i: i.token(iss="https://login.microsoftonline.com/other/v2.0"),
    "wrong audience": lambda i: i.token(aud="api://someone-else"),
    "wrong tenant": lambda i: i.token(tid=OTHER_TENANT),
    "expired": lambda i: i.token(exp=NOW - 3600, iat=NOW - 7200, nbf=NOW - 7200),
    "not yet valid": lambda i: i.token(nbf=NOW + 3600, iat=NOW + 3600, exp=NOW + 7200),
    "wrong key": lambda i: i.token(key=KEY_B),
    "alg none": lambda i: _unsigned({"alg": "none", "kid": "kid-a"}, i.claims()),
    "HS256": _hs256,
    "ID token": lambda i: i.token(azp=DROP, scp=DROP, nonce="n-0S6_WzA2Mj"),
    "not a JWT": lambda i: "not-a-token",
}


def answer(client: Any, path: str, token: str | None) -> tuple[int, str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = client.get(path, headers=headers)
    return response.status_code, response.headers.get("WWW-Authenticate", ""), response.get_json()


def test_a_good_token_reaches_the_handler(client: Any, issuer: FakeIssuer) -> None:
    status, challenge, body = answer(client, "/orders", issuer.token())
    assert status == 200, body
    assert challenge == ""
    assert body == {"oid": issuer.claims()["oid"], "scopes": ["access_as_user"]}


def test_no_token_gets_a_bare_bearer_challenge(client: Any, issuer: FakeIssuer) -> None:
    status, challenge, body = answer(client, "/orders", None)
    assert status == 401
    assert challenge == "Bearer"
    assert body["error"] == "invalid_request"
    other_scheme = client.get("/orders", headers={"Authorization": "Basic eDp5"})
    assert other_scheme.status_code == 401
    assert other_scheme.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", list(BAD))
def test_every_bad_token_is_a_401_with_its_reason(
    client: Any, issuer: FakeIssuer, kind: str
) -> None:
    status, challenge, body = answer(client, "/orders", BAD[kind](issuer))
    assert status == 401, (kind, body)
    assert challenge.startswith('Bearer error="invalid_token"'), challenge
    assert body["error"] == "invalid_token"
    assert body["error_description"]


def test_a_missing_scope_is_a_403(client: Any, issuer: FakeIssuer) -> None:
    status, challenge, body = answer(client, "/orders", issuer.token(scp="Other.Scope"))
    assert status == 403
    assert 'error="insufficient_scope"' in challenge
    assert body["error"] == "insufficient_scope"


def test_app_roles(client: Any, issuer: FakeIssuer) -> None:
    app_token = issuer.token(scp=DROP, roles=["Orders.ReadAll"], idtyp="app")
    status, _, body = answer(client, "/admin", app_token)
    assert status == 200, body
    assert body == {"roles": ["Orders.ReadAll"], "app": True}
    status, challenge, _ = answer(client, "/admin", issuer.token(scp=DROP, roles=["Other"]))
    assert status == 403
    assert 'error="insufficient_scope"' in challenge
