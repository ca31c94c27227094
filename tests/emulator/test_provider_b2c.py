"""B2C user flows: per-policy discovery, issuer and keys, tfp/acr tokens, the forgot-password
link, and the edit-profile and password-reset flows."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from identitylib._authority._parse import parse_authority
from identitylib._protocol._jwt import decode_client_info
from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_B2C_EDIT_PROFILE,
    DEMO_B2C_RESET_PASSWORD,
    DEMO_B2C_SIGN_UP_SIGN_IN,
    DEMO_TENANT_DOMAIN,
    DEMO_WEB_ID,
    Tenant,
)

from .provider_support import (
    ALICE,
    ALICE_OID,
    BASE,
    TENANT,
    World,
    assert_error,
    authorize_params,
    body,
    form_fields,
    location_params,
    make_world,
    redeem,
    sign_in,
    start_sign_in,
)

SUSI = f"{DEMO_TENANT_DOMAIN}/{DEMO_B2C_SIGN_UP_SIGN_IN}"
EDIT = f"{DEMO_TENANT_DOMAIN}/{DEMO_B2C_EDIT_PROFILE}"
RESET = f"{DEMO_TENANT_DOMAIN}/{DEMO_B2C_RESET_PASSWORD}"


@pytest.fixture
def world() -> World:
    return make_world()


def _issuer(policy: str) -> str:
    return f"{BASE}/tfp/{TENANT}/{policy.lower()}/v2.0/"


def _verified(world: World, tenant: str, token: str, audience: str) -> dict[str, Any]:
    keys = body(world.provider.jwks(tenant, base_url=BASE))["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in keys if k["kid"] == kid)
    claims: dict[str, Any] = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=audience
    )
    return claims


def test_both_libraries_take_the_emulator_user_flow_for_b2c() -> None:
    from msal.authority import Authority

    url = f"http://127.0.0.1:8400/{SUSI}"
    assert parse_authority(url).is_b2c
    assert parse_authority(f"https://localhost:8443/{SUSI}").is_b2c
    authority = Authority.__new__(Authority)  # classification only: no discovery
    tenant_discovery = authority._initialize_entra_authority(
        f"https://localhost:8443/{SUSI}", True, None
    )
    assert authority._is_b2c
    assert tenant_discovery == (
        f"https://localhost:8443/{SUSI}/v2.0/.well-known/openid-configuration"
    )


@pytest.mark.parametrize("policy", [DEMO_B2C_SIGN_UP_SIGN_IN, DEMO_B2C_EDIT_PROFILE])
def test_each_user_flow_has_its_own_discovery_issuer_and_keys(world: World, policy: str) -> None:
    path = f"{DEMO_TENANT_DOMAIN}/{policy}"
    document = body(world.provider.openid_configuration(BASE, path))
    root = f"{BASE}/{DEMO_TENANT_DOMAIN}/{policy.lower()}"
    assert document["issuer"] == _issuer(policy)
    assert document["authorization_endpoint"] == f"{root}/oauth2/v2.0/authorize"
    assert document["token_endpoint"] == f"{root}/oauth2/v2.0/token"
    assert document["end_session_endpoint"] == f"{root}/oauth2/v2.0/logout"
    assert document["jwks_uri"] == f"{root}/discovery/v2.0/keys"
    policy_kids = {k["kid"] for k in body(world.provider.jwks(path, base_url=BASE))["keys"]}
    tenant_kids = {k["kid"] for k in body(world.provider.jwks(TENANT, base_url=BASE))["keys"]}
    assert policy_kids
    assert not policy_kids & tenant_kids


def test_user_flows_do_not_share_keys(world: World) -> None:
    one = body(world.provider.jwks(SUSI, base_url=BASE))["keys"]
    other = body(world.provider.jwks(EDIT, base_url=BASE))["keys"]
    assert {k["kid"] for k in one}.isdisjoint(k["kid"] for k in other)
    assert body(world.provider.jwks(SUSI.lower(), base_url=BASE))["keys"] == one


def test_unknown_user_flow_is_an_unknown_tenant(world: World) -> None:
    reply = world.provider.openid_configuration(BASE, f"{DEMO_TENANT_DOMAIN}/B2C_1_nope")
    assert_error(reply, "invalid_tenant", 90002)
    assert world.provider.openid_configuration(BASE, "common/B2C_1_susi").status == 400


def test_sign_up_sign_in_gives_b2c_tokens(world: World) -> None:
    params = authorize_params(scope="api://demo-api/access_as_user openid offline_access")
    redirect = sign_in(world, params, tenant=SUSI)
    answer = location_params(redirect)
    uid = f"{ALICE_OID}-{DEMO_B2C_SIGN_UP_SIGN_IN.lower()}"
    assert decode_client_info(answer["client_info"]) == {"uid": uid, "utid": TENANT}
    tokens = body(world.provider.token(BASE, SUSI, _redemption(answer["code"]), {}))
    assert decode_client_info(tokens["client_info"]) == {"uid": uid, "utid": TENANT}
    id_token = _verified(world, SUSI, tokens["id_token"], DEMO_WEB_ID)
    assert id_token["iss"] == _issuer(DEMO_B2C_SIGN_UP_SIGN_IN)
    assert id_token["tfp"] == DEMO_B2C_SIGN_UP_SIGN_IN
    assert id_token["acr"] == DEMO_B2C_SIGN_UP_SIGN_IN.lower()
    assert id_token["sub"] == id_token["oid"] == ALICE_OID
    assert id_token["emails"] == [ALICE]
    assert id_token["nonce"] == "nonce-1"
    assert id_token["ver"] == "1.0"
    access = _verified(world, SUSI, tokens["access_token"], DEMO_API_ID)
    assert access["tfp"] == DEMO_B2C_SIGN_UP_SIGN_IN
    assert access["scp"] == "access_as_user"
    assert access["azp"] == DEMO_WEB_ID
    refreshed = world.provider.token(
        BASE,
        SUSI,
        {**_secret(), "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        {},
    )
    assert _verified(world, SUSI, body(refreshed)["id_token"], DEMO_WEB_ID)["tfp"] == (
        DEMO_B2C_SIGN_UP_SIGN_IN
    )


def _secret() -> dict[str, str]:
    from identitylib.emulator._config import DEMO_WEB_SECRET

    return {"client_id": DEMO_WEB_ID, "client_secret": DEMO_WEB_SECRET}


def _redemption(code: str) -> dict[str, str]:
    return {
        **_secret(),
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://localhost:5000/getAToken",
        "client_info": "1",
    }


def test_a_code_of_one_user_flow_is_not_redeemed_at_another(world: World) -> None:
    code = location_params(sign_in(world, authorize_params(), tenant=SUSI))["code"]
    assert_error(world.provider.token(BASE, EDIT, _redemption(code), {}), "invalid_grant", 70000)
    entra_code = location_params(sign_in(world, authorize_params()))["code"]
    assert_error(
        world.provider.token(BASE, SUSI, _redemption(entra_code), {}), "invalid_grant", 70000
    )
    assert redeem(world, location_params(sign_in(world, authorize_params()))["code"]).status == 200


def test_forgot_password_link_returns_aadb2c90118(world: World) -> None:
    page = world.provider.authorize(BASE, SUSI, authorize_params())
    assert page.html
    assert 'id="forgotPassword"' in page.html
    txn = form_fields(page.html)["txn"]
    reply = world.provider.forgot_password(BASE, SUSI, {"txn": txn, "action": "forgot_password"})
    params = location_params(reply)
    assert params["error"] == "access_denied"
    assert params["error_description"].startswith("AADB2C90118: The user has forgotten")
    assert params["state"] == "st-1"
    assert "code" not in params
    again = world.provider.forgot_password(BASE, SUSI, {"txn": txn, "action": "forgot_password"})
    assert again.status == 400


@pytest.mark.parametrize(
    ("tenant", "title"), [(EDIT, "Edit your profile"), (RESET, "Reset your password")]
)
def test_edit_profile_and_reset_flows_sign_in_and_return_a_code(
    world: World, tenant: str, title: str
) -> None:
    page = world.provider.authorize(BASE, tenant, authorize_params())
    assert page.html
    assert title in page.html
    assert "forgotPassword" not in page.html
    txn = form_fields(page.html)["txn"]
    assert (
        world.provider.forgot_password(
            BASE, tenant, {"txn": txn, "action": "forgot_password"}
        ).status
        == 400
    )
    code = location_params(sign_in(world, authorize_params(), tenant=tenant))["code"]
    tokens = body(world.provider.token(BASE, tenant, _redemption(code), {}))
    policy = tenant.split("/")[1]
    assert _verified(world, tenant, tokens["id_token"], DEMO_WEB_ID)["tfp"] == policy


def test_entra_sign_in_pages_have_no_forgot_password_link(world: World) -> None:
    txn = start_sign_in(world, authorize_params())
    reply = world.provider.forgot_password(BASE, TENANT, {"txn": txn, "action": "forgot_password"})
    assert reply.status == 400


def test_user_flow_names_and_kinds_are_checked() -> None:
    with pytest.raises(ValueError, match="B2C_"):
        Tenant("t", user_flows={"susi": "sign_up_sign_in"})
    with pytest.raises(ValueError, match="kind"):
        Tenant("t", user_flows={"B2C_1_x": "nope"})
