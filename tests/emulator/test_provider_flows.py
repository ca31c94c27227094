"""Device code, ROPC, refresh tokens (rotation, revocation, FOCI) and on-behalf-of."""

from __future__ import annotations

import re
from typing import Any

import jwt
import pytest

from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_CLI_ID,
    DEMO_DESKTOP_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    GRAPH_APP_ID,
)

from .provider_support import (
    ALICE,
    ALICE_OID,
    ALICE_PASSWORD,
    BASE,
    DEVICE_GRANT,
    OBO_GRANT,
    TENANT,
    World,
    assert_error,
    body,
    decode,
    form_fields,
    make_world,
    token,
    user_tokens,
)


@pytest.fixture
def world() -> World:
    return make_world()


# --- device code -------------------------------------------------------------------------
def start_device(world: World, **extra: str) -> dict[str, Any]:
    form = {"client_id": DEMO_CLI_ID, "scope": "User.Read openid profile offline_access"}
    form.update(extra)
    reply = world.provider.devicecode(BASE, "organizations", form, {})
    return body(reply)


def poll(
    world: World, device_code: str, key: str = "device_code", grant_type: str = DEVICE_GRANT
) -> Any:
    form = {"grant_type": grant_type, "client_id": DEMO_CLI_ID, key: device_code}
    return world.provider.token(BASE, "organizations", form, {"client-request-id": "c-1"})


def approve(world: World, user_code: str, **extra: str) -> Any:
    form = {"user_code": user_code, "username": ALICE, "password": ALICE_PASSWORD}
    form.update(extra)
    return world.provider.device_login(BASE, form)


def test_devicecode_response(world: World) -> None:
    flow = start_device(world)
    assert re.fullmatch(r"[A-Z0-9]{9}", flow["user_code"])
    assert flow["verification_uri"] == f"{BASE}/devicelogin"
    assert flow["expires_in"] == 900
    assert flow["interval"] == 5
    assert flow["message"] == (
        f"To sign in, use a web browser to open the page {BASE}/devicelogin and enter the "
        f"code {flow['user_code']} to authenticate."
    )
    assert "verification_uri_complete" not in flow


def test_device_flow_pending_then_success(world: World) -> None:
    flow = start_device(world)
    data = assert_error(poll(world, flow["device_code"]), "authorization_pending", 70016)
    assert data["correlation_id"] == "c-1"
    page = world.provider.device_login_page(BASE, {"user_code": flow["user_code"]})
    assert page.html
    assert f'action="{BASE}/devicelogin"' in page.html
    assert form_fields(page.html)["user_code"] == flow["user_code"]
    done = approve(world, flow["user_code"].lower())
    assert done.status == 200
    assert done.html
    assert "signed in" in done.html
    result = body(poll(world, flow["device_code"], key="code"))
    assert result["foci"] == "1"
    assert result["refresh_token"]
    assert result["id_token"]
    assert result["scope"] == "User.Read openid profile"
    claims = decode(world, result["access_token"], GRAPH_APP_ID)
    assert claims["scp"] == "User.Read"
    assert claims["oid"] == ALICE_OID
    assert_error(poll(world, flow["device_code"]), "invalid_grant", 54005)


def test_device_flow_with_the_short_grant_type_of_msal_node(world: World) -> None:
    # msal-node polls with grant_type=device_code (msal-common's GrantType.DEVICE_CODE_GRANT,
    # DeviceCodeClient), which Entra accepts as it accepts the URN.
    flow = start_device(world)
    pending = poll(world, flow["device_code"], grant_type="device_code")
    assert_error(pending, "authorization_pending", 70016)
    assert approve(world, flow["user_code"]).status == 200
    result = body(poll(world, flow["device_code"], grant_type="device_code"))
    assert result["refresh_token"]
    assert decode(world, result["access_token"], GRAPH_APP_ID)["oid"] == ALICE_OID
    assert_error(poll(world, flow["device_code"], grant_type="device_code"), "invalid_grant", 54005)


def test_device_flow_decline_and_expiry(world: World) -> None:
    flow = start_device(world)
    declined = world.provider.device_login(
        BASE, {"user_code": flow["user_code"], "action": "decline"}
    )
    assert declined.status == 200
    assert_error(poll(world, flow["device_code"]), "authorization_declined", 65004)
    late = start_device(world)
    world.clock.advance(901)
    assert_error(poll(world, late["device_code"]), "expired_token", 70019)
    page = approve(world, late["user_code"])
    assert page.html
    assert "That code didn" in page.html


def test_device_login_bad_password_and_bad_code(world: World) -> None:
    flow = start_device(world)
    page = approve(world, flow["user_code"], password="nope")
    assert page.status == 200
    assert page.html
    assert "invalid username or password" in page.html
    assert_error(poll(world, flow["device_code"]), "authorization_pending", 70016)
    assert_error(poll(world, "no-such-code"), "bad_verification_code", 70018)
    assert approve(world, "ZZZZZZZZZ").html is not None


def test_device_slow_down_is_optional() -> None:
    world = make_world(device_slow_down=True)
    flow = start_device(world)
    assert_error(poll(world, flow["device_code"]), "authorization_pending", 70016)
    assert body(poll(world, flow["device_code"]))["error"] == "slow_down"
    world.clock.advance(5)
    assert_error(poll(world, flow["device_code"]), "authorization_pending", 70016)


def test_devicecode_errors(world: World) -> None:
    reply = world.provider.devicecode(BASE, TENANT, {"client_id": DEMO_CLI_ID}, {})
    assert_error(reply, "invalid_request", 900144)
    form = {"client_id": DEMO_WEB_ID, "scope": "openid"}
    assert_error(world.provider.devicecode(BASE, TENANT, form, {}), "invalid_client", 7000218, 401)
    form = {"client_id": "nope", "scope": "openid"}
    assert_error(world.provider.devicecode(BASE, TENANT, form, {}), "unauthorized_client", 700016)


# --- ROPC ----------------------------------------------------------------------------------
def ropc(world: World, tenant: str = TENANT, **extra: str) -> Any:
    form = {
        "grant_type": "password",
        "client_id": DEMO_CLI_ID,
        "username": ALICE,
        "password": ALICE_PASSWORD,
        "scope": "api://demo-api/access_as_user openid profile offline_access",
    }
    form.update(extra)
    return token(world, form, tenant=tenant)


def test_ropc_success_and_errors(world: World) -> None:
    assert ropc(world, "organizations").status == 200
    assert_error(ropc(world, password="wrong"), "invalid_grant", 50126)
    assert_error(ropc(world, username="nobody@contoso.onmicrosoft.com"), "invalid_grant", 50034)
    assert_error(ropc(world, "common"), "invalid_request", 9001023)
    assert_error(ropc(world, "consumers"), "invalid_request", 9001023)
    world.config.apps[3].allow_public_client_flows = False
    assert_error(ropc(world), "invalid_client", 7000218, 401)


def test_ropc_confidential_client(world: World) -> None:
    reply = ropc(world, client_id=DEMO_WEB_ID, client_secret=DEMO_WEB_SECRET)
    assert decode(world, body(reply)["access_token"], DEMO_API_ID)["azpacr"] == "1"


# --- refresh tokens ------------------------------------------------------------------------
def refresh(world: World, rt: str, client_id: str = DEMO_CLI_ID, **extra: str) -> Any:
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": rt}
    form.update(extra)
    return token(world, form)


def test_refresh_rotation(world: World) -> None:
    first = user_tokens(world)
    second = body(refresh(world, first["refresh_token"], client_info="1"))
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    assert second["client_info"] == first["client_info"]
    assert body(refresh(world, first["refresh_token"]))["access_token"]  # old one still valid
    graph = body(refresh(world, second["refresh_token"], scope="User.Read offline_access"))
    assert decode(world, graph["access_token"], GRAPH_APP_ID)["scp"] == "User.Read"
    assert "id_token" not in graph


def test_refresh_revocation(world: World) -> None:
    alice = user_tokens(world)
    assert world.provider.revoke_refresh_tokens("someone@else") == 0
    assert world.provider.revoke_refresh_tokens(ALICE.upper()) == 1
    assert_error(refresh(world, alice["refresh_token"]), "invalid_grant", 50173)
    assert world.provider.revoke_refresh_tokens() == 0


def test_refresh_expiry_and_garbage(world: World) -> None:
    rt = user_tokens(world)["refresh_token"]
    world.clock.advance(world.config.refresh_token_lifetime + 1)
    assert_error(refresh(world, rt), "invalid_grant", 700082)
    assert_error(refresh(world, "garbage"), "invalid_grant", 9002313)


def test_family_refresh_token(world: World) -> None:
    rt = user_tokens(world)["refresh_token"]
    family = body(refresh(world, rt, client_id=DEMO_DESKTOP_ID))
    assert family["foci"] == "1"
    assert decode(world, family["access_token"], DEMO_API_ID)["azp"] == DEMO_DESKTOP_ID
    stranger = refresh(world, rt, client_id=DEMO_WEB_ID, client_secret=DEMO_WEB_SECRET)
    assert assert_error(stranger, "invalid_grant", 70000)["suberror"] == "client_mismatch"


def test_non_family_refresh_token_is_client_bound(world: World) -> None:
    form = {
        "grant_type": "password",
        "client_id": DEMO_WEB_ID,
        "client_secret": DEMO_WEB_SECRET,
        "username": ALICE,
        "password": ALICE_PASSWORD,
        "scope": "openid offline_access",
    }
    data = body(token(world, form))
    assert "foci" not in data
    assert data["scope"] == "openid"
    assert decode(world, data["access_token"], GRAPH_APP_ID)["scp"] == "openid"
    reply = refresh(world, data["refresh_token"], client_id=DEMO_CLI_ID)
    assert_error(reply, "invalid_grant", 70000)


# --- on-behalf-of --------------------------------------------------------------------------
def obo(world: World, assertion: str, **extra: str) -> Any:
    form = {
        "grant_type": OBO_GRANT,
        "client_id": DEMO_API_ID,
        "client_secret": DEMO_API_SECRET,
        "requested_token_use": "on_behalf_of",
        "assertion": assertion,
        "scope": "https://graph.microsoft.com/User.Read offline_access openid",
        "client_info": "1",
    }
    form.update(extra)
    return token(world, form)


def test_obo_success(world: World) -> None:
    incoming = user_tokens(world)["access_token"]
    data = body(obo(world, incoming))
    claims = decode(world, data["access_token"], GRAPH_APP_ID)
    assert claims["oid"] == ALICE_OID
    assert claims["azp"] == DEMO_API_ID
    assert claims["scp"] == "User.Read"
    assert claims["azpacr"] == "1"
    assert data["refresh_token"]
    assert data["id_token"]
    assert data["client_info"]
    assert decode(world, data["id_token"], DEMO_API_ID)["oid"] == ALICE_OID


def test_obo_assertion_errors(world: World) -> None:
    tokens = user_tokens(world)
    graph_at = user_tokens(world, "User.Read")["access_token"]
    assert_error(obo(world, graph_at), "invalid_grant", 50013)
    assert_error(obo(world, tokens["id_token"]), "invalid_grant", 240002)
    assert_error(obo(world, "not-a-jwt"), "invalid_grant", 50027)
    forged = jwt.encode({"aud": DEMO_API_ID}, "k" * 32, algorithm="HS256", headers={"kid": "x"})
    assert_error(obo(world, forged), "invalid_grant", 50013)
    world.clock.advance(3601)
    assert_error(obo(world, tokens["access_token"]), "invalid_grant", 500133)


def test_obo_request_errors(world: World) -> None:
    at = user_tokens(world)["access_token"]
    assert_error(obo(world, at, requested_token_use="other"), "invalid_request", 9002313)
    assert_error(obo(world, at, client_secret="bad"), "invalid_client", 7000215, 401)
    assert_error(obo(world, at, scope=""), "invalid_request", 900144)
    app_token = body(
        token(
            world,
            {
                "grant_type": "client_credentials",
                "client_id": DEMO_WEB_ID,
                "client_secret": DEMO_WEB_SECRET,
                "scope": "api://demo-api/.default",
            },
        )
    )["access_token"]
    assert_error(obo(world, app_token), "invalid_grant", 50013)
