"""Client credentials grant and every client-authentication form."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_DOMAIN,
    GRAPH_APP_ID,
    App,
)

from .provider_support import (
    BASE,
    CERT_APP_ID,
    JWT_BEARER,
    TENANT,
    World,
    assert_error,
    assertion,
    body,
    decode,
    make_world,
    token,
)


@pytest.fixture
def world() -> World:
    return make_world()


def cc_form(**extra: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEMO_DAEMON_ID,
        "client_secret": DEMO_DAEMON_SECRET,
        "scope": "api://demo-api/.default",
    }
    form.update(extra)
    return form


def cert_form(client_assertion: str, **extra: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": CERT_APP_ID,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": client_assertion,
        "scope": "api://demo-api/.default",
    }
    form.update(extra)
    return form


def test_secret_post_app_token(world: World) -> None:
    reply = token(world, cc_form())
    data = body(reply)
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "no-store, no-cache"
    assert set(data) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == data["ext_expires_in"] == 3600
    claims = decode(world, data["access_token"], DEMO_API_ID)
    assert claims["iss"] == f"{BASE}/{TENANT}/v2.0"
    assert claims["tid"] == TENANT
    assert claims["azp"] == DEMO_DAEMON_ID
    assert claims["azpacr"] == "1"
    assert claims["roles"] == ["Data.Read.All"]
    assert claims["idtyp"] == "app"
    assert claims["ver"] == "2.0"
    assert claims["oid"] == claims["sub"]
    assert claims["exp"] - claims["iat"] == 3600
    assert "scp" not in claims
    assert claims["uti"]


def test_lifetime_and_refresh_in_faults(world: World) -> None:
    world.faults.access_token_lifetime = 120
    world.faults.refresh_in = 60
    data = body(token(world, cc_form()))
    assert data["expires_in"] == data["ext_expires_in"] == 120
    assert data["refresh_in"] == 60


def test_basic_authentication(world: World) -> None:
    raw = f"{quote(DEMO_DAEMON_ID)}:{quote(DEMO_DAEMON_SECRET)}".encode()
    headers = {"authorization": "Basic " + base64.b64encode(raw).decode()}
    form = {"grant_type": "client_credentials", "scope": f"{DEMO_API_ID}/.default"}
    reply = token(world, form, headers=headers)
    assert reply.status == 200, reply.json
    wrong = base64.b64encode(f"{DEMO_DAEMON_ID}:nope".encode()).decode()
    reply = token(world, form, headers={"authorization": "Basic " + wrong})
    assert_error(reply, "invalid_client", 7000215, 401)


def test_domain_tenant_and_graph_default(world: World) -> None:
    reply = token(
        world, cc_form(scope="https://graph.microsoft.com/.default"), tenant=DEMO_TENANT_DOMAIN
    )
    claims = decode(world, body(reply)["access_token"], GRAPH_APP_ID)
    assert claims["roles"] == ["User.Read.All"]
    assert claims["tid"] == TENANT


def test_v1_resource_gets_v1_token(world: World) -> None:
    world.config.apps.append(
        App("v1-api-id", "v1-api", identifier_uris=["https://v1.example"], access_token_version=1)
    )
    data = body(token(world, cc_form(scope="https://v1.example/.default")))
    header = jwt.get_unverified_header(data["access_token"])
    assert header["x5t"] == header["kid"]
    claims = decode(world, data["access_token"], "https://v1.example")
    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert claims["appid"] == DEMO_DAEMON_ID
    assert claims["appidacr"] == "1"
    assert claims["ver"] == "1.0"


@pytest.mark.parametrize(
    ("scope", "error", "code"),
    [
        ("User.Read", "invalid_scope", 1002012),
        ("https://graph.microsoft.com/User.Read", "invalid_scope", 1002012),
        ("api://demo-api/.default https://graph.microsoft.com/.default", "invalid_scope", 700022),
        ("api://nothing/.default", "invalid_resource", 500011),
        ("", "invalid_request", 900144),
    ],
)
def test_client_credentials_scope_rules(world: World, scope: str, error: str, code: int) -> None:
    assert_error(token(world, cc_form(scope=scope)), error, code)


def test_client_credentials_needs_a_tenant(world: World) -> None:
    assert_error(token(world, cc_form(), tenant="common"), "invalid_request", 50059)


def test_secret_errors(world: World) -> None:
    data = assert_error(
        token(world, cc_form(client_secret="wrong")), "invalid_client", 7000215, 401
    )
    assert "secret" in data["error_description"]
    form = cc_form()
    del form["client_secret"]
    assert_error(token(world, form), "invalid_client", 7000218, 401)
    assert_error(token(world, cc_form(client_id="unknown-app")), "unauthorized_client", 700016)
    public = cc_form(client_id=DEMO_CLI_ID, client_secret="anything")
    assert_error(token(world, public), "invalid_client", 700025, 401)
    no_client = cc_form()
    del no_client["client_id"]
    assert_error(token(world, no_client), "invalid_request", 900144)


def test_public_client_cannot_use_client_credentials(world: World) -> None:
    form = cc_form(client_id=DEMO_CLI_ID)
    del form["client_secret"]
    assert_error(token(world, form), "invalid_client", 7000218, 401)


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_private_key_jwt(world: World, alg: str) -> None:
    reply = token(world, cert_form(assertion(alg=alg, now=world.clock.now)))
    claims = decode(world, body(reply)["access_token"], DEMO_API_ID)
    assert claims["azp"] == CERT_APP_ID
    assert claims["azpacr"] == "2"


def test_assertion_without_thumbprint_or_client_id(world: World) -> None:
    form = cert_form(assertion(thumbprint=False, now=world.clock.now))
    del form["client_id"]  # taken from the assertion's iss
    assert token(world, form).status == 200


@pytest.mark.parametrize(
    "aud",
    [
        f"{BASE}/{DEMO_TENANT_DOMAIN}/oauth2/v2.0/token",
        f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
        f"{BASE}/{TENANT}/oauth2/v2.0/token/",
    ],
)
def test_assertion_audience_variants(world: World, aud: str) -> None:
    assert token(world, cert_form(assertion(aud=aud, now=world.clock.now))).status == 200


def test_assertion_on_domain_path_accepts_guid_audience(world: World) -> None:
    reply = token(world, cert_form(assertion(now=world.clock.now)), tenant=DEMO_TENANT_DOMAIN)
    assert reply.status == 200


def _other_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"aud": f"{BASE}/common/oauth2/v2.0/token"}, 50027),
        ({"aud": "https://elsewhere.example/"}, 50027),
        ({"lifetime": -1000}, 700024),
        ({"sub": "someone-else"}, 50048),
        ({"iss": DEMO_DAEMON_ID, "sub": DEMO_DAEMON_ID}, 700021),
    ],
)
def test_assertion_claim_errors(world: World, kwargs: dict[str, Any], code: int) -> None:
    reply = token(world, cert_form(assertion(now=world.clock.now, **kwargs)))
    assert_error(reply, "invalid_client", code, 401)


def test_assertion_not_yet_valid_and_skew(world: World) -> None:
    future = assertion(now=world.clock.now + 1000)
    assert_error(token(world, cert_form(future)), "invalid_client", 700024, 401)
    slightly = assertion(now=world.clock.now + 200)
    assert token(world, cert_form(slightly)).status == 200
    expired_recently = assertion(now=world.clock.now - 700)  # exp 100 s ago: within skew
    assert token(world, cert_form(expired_recently)).status == 200


def test_assertion_signature_errors(world: World) -> None:
    forged = assertion(now=world.clock.now, key=_other_key())
    assert_error(token(world, cert_form(forged)), "invalid_client", 700027, 401)
    assert_error(token(world, cert_form("not-a-jwt")), "invalid_client", 50027, 401)
    hs = jwt.encode({"iss": CERT_APP_ID}, "k" * 32, algorithm="HS256")
    assert_error(token(world, cert_form(hs)), "invalid_client", 700027, 401)
    wrong_type = cert_form(assertion(now=world.clock.now), client_assertion_type="x")
    assert_error(token(world, wrong_type), "invalid_request", 9002313)


def test_assertion_replay_off_by_default(world: World) -> None:
    same = assertion(now=world.clock.now, jti="fixed-jti")
    assert token(world, cert_form(same)).status == 200
    assert token(world, cert_form(same)).status == 200  # MSAL reuses assertions


def test_assertion_replay_rejected_when_enabled() -> None:
    world = make_world(reject_assertion_replay=True)
    same = assertion(now=world.clock.now, jti="fixed-jti")
    assert token(world, cert_form(same)).status == 200
    data = assert_error(token(world, cert_form(same)), "invalid_client", 50027, 401)
    assert "replay" in data["error_description"]
    fresh = assertion(now=world.clock.now)
    assert token(world, cert_form(fresh)).status == 200


def test_resource_parameter_is_refused(world: World) -> None:
    assert_error(token(world, cc_form(resource="https://x")), "invalid_request", 901002)


def test_grant_type_errors(world: World) -> None:
    form = cc_form()
    del form["grant_type"]
    assert_error(token(world, form), "invalid_request", 900144)
    assert_error(token(world, cc_form(grant_type="magic")), "unsupported_grant_type", 70003)
