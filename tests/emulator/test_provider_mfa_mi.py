"""MFA claims challenges, client capabilities, and managed-identity tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest

from identitylib.emulator._challenges import MFA_CLAIMS
from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_CLI_ID,
    DEMO_MI_CLIENT_ID,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
)

from .provider_support import (
    ALICE,
    ALICE_PASSWORD,
    BASE,
    DEVICE_GRANT,
    OBO_GRANT,
    World,
    assert_error,
    authorize_params,
    body,
    decode,
    get_code,
    make_world,
    redeem,
    token,
    user_tokens,
)

CP1 = json.dumps({"access_token": {"xms_cc": {"values": ["CP1"]}}})


@pytest.fixture
def world() -> World:
    return make_world()


def ropc(world: World, **extra: str) -> Any:
    form = {
        "grant_type": "password",
        "client_id": DEMO_CLI_ID,
        "username": ALICE,
        "password": ALICE_PASSWORD,
        "scope": "api://demo-api/access_as_user openid offline_access",
    }
    form.update(extra)
    return token(world, form)


def assert_mfa_challenge(reply: Any) -> None:
    data = assert_error(reply, "interaction_required", 50079)
    assert data["suberror"] == "basic_action"
    assert json.loads(data["claims"]) == {
        "access_token": {"capolids": {"essential": True, "values": ["c1"]}}
    }


def test_mfa_fault_and_satisfying_sign_in(world: World) -> None:
    world.faults.mfa_required = True
    assert_mfa_challenge(ropc(world))
    data = body(ropc(world, claims=MFA_CLAIMS))
    assert decode(world, data["access_token"], DEMO_API_ID)["amr"] == ["pwd", "mfa"]
    world.faults.reset()
    assert decode(world, body(ropc(world))["access_token"], DEMO_API_ID)["amr"] == ["pwd"]


def test_refresh_needs_an_mfa_session(world: World) -> None:
    rt = user_tokens(world)["refresh_token"]
    world.faults.mfa_required = True
    refresh = {"grant_type": "refresh_token", "client_id": DEMO_CLI_ID, "refresh_token": rt}
    assert_mfa_challenge(token(world, refresh))
    assert_mfa_challenge(token(world, {**refresh, "claims": MFA_CLAIMS}))  # not a sign-in
    code = get_code(world, authorize_params(claims=MFA_CLAIMS))
    data = body(redeem(world, code))
    again = {**refresh, "refresh_token": data["refresh_token"], "client_id": DEMO_WEB_ID}
    again["client_secret"] = "demo-web-secret"
    assert token(world, again).status == 200  # RT inherits the MFA sign-in


def test_code_from_plain_sign_in_is_challenged(world: World) -> None:
    world.faults.mfa_required = True
    assert_mfa_challenge(redeem(world, get_code(world)))


def test_per_user_mfa(world: World) -> None:
    world.config.users[1].mfa_required = True
    assert ropc(world).status == 200
    bob = ropc(world, username="bob@contoso.onmicrosoft.com", password="bob-password")
    assert_mfa_challenge(bob)


def test_device_flow_claims_satisfy_mfa(world: World) -> None:
    world.faults.mfa_required = True
    form = {"client_id": DEMO_CLI_ID, "scope": "openid", "claims": MFA_CLAIMS}
    flow = body(world.provider.devicecode(BASE, "organizations", form, {}))
    world.provider.device_login(
        BASE, {"user_code": flow["user_code"], "username": ALICE, "password": ALICE_PASSWORD}
    )
    poll = {
        "grant_type": DEVICE_GRANT,
        "client_id": DEMO_CLI_ID,
        "device_code": flow["device_code"],
    }
    assert world.provider.token(BASE, "organizations", poll, {}).status == 200


def test_obo_with_mfa(world: World) -> None:
    plain = user_tokens(world)["access_token"]
    strong = body(ropc(world, claims=MFA_CLAIMS))["access_token"]
    world.faults.mfa_required = True
    form = {
        "grant_type": OBO_GRANT,
        "client_id": DEMO_API_ID,
        "client_secret": DEMO_API_SECRET,
        "requested_token_use": "on_behalf_of",
        "scope": "User.Read",
    }
    assert_mfa_challenge(token(world, {**form, "assertion": plain}))
    assert token(world, {**form, "assertion": strong}).status == 200


def test_client_capabilities(world: World) -> None:
    data = body(ropc(world, claims=CP1))
    assert decode(world, data["access_token"], DEMO_API_ID)["xms_cc"] == ["cp1"]
    plain = body(ropc(world))
    assert "xms_cc" not in decode(world, plain["access_token"], DEMO_API_ID)
    code = get_code(world, authorize_params(claims=CP1))
    at = body(redeem(world, code))["access_token"]
    assert decode(world, at, DEMO_API_ID)["xms_cc"] == ["cp1"]


def test_malformed_claims(world: World) -> None:
    assert_error(ropc(world, claims="{not json"), "invalid_request", 9002313)
    assert_error(ropc(world, claims="[1]"), "invalid_request", 9002313)


# --- managed identity ----------------------------------------------------------------------
MI_OID = "0a1b2c3d-0000-4000-8000-0000000000e2"
MI_RESOURCE_ID = (
    "/subscriptions/0/resourceGroups/demo/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/demo-mi"
)
SYSTEM_MI = "a1b2c3d4-0007-4000-8000-0000000000e5"


def test_mi_system_assigned_by_default(world: World) -> None:
    reply = world.provider.managed_identity_token("https://management.azure.com/")
    data = body(reply)
    assert reply.status == 200
    assert data["client_id"] == SYSTEM_MI
    assert data["token_type"] == "Bearer"
    assert data["resource"] == "https://management.azure.com/"
    for name in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
        assert isinstance(data[name], str)
        assert data[name].isdigit()
    assert int(data["expires_on"]) - int(data["not_before"]) == int(data["expires_in"])
    claims = decode(world, data["access_token"], "https://management.azure.com/")
    assert claims["iss"] == f"https://sts.windows.net/{DEMO_TENANT_ID}/"
    assert claims["appid"] == SYSTEM_MI
    assert claims["idtyp"] == "app"


@pytest.mark.parametrize(
    "selector",
    [
        {"client_id": DEMO_MI_CLIENT_ID},
        {"object_id": MI_OID},
        {"resource_id": MI_RESOURCE_ID},
    ],
)
def test_mi_user_assigned_selection(world: World, selector: dict[str, str]) -> None:
    data = body(world.provider.managed_identity_token("api://demo-api", **selector))
    assert data["client_id"] == DEMO_MI_CLIENT_ID
    claims = decode(world, data["access_token"], DEMO_API_ID)
    assert claims["oid"] == MI_OID
    assert claims["xms_mirid"] == MI_RESOURCE_ID


def test_mi_errors(world: World) -> None:
    unknown = world.provider.managed_identity_token("https://x", client_id="nope")
    assert unknown.status == 400
    assert unknown.json == {"error": "invalid_request", "error_description": "Identity not found"}
    missing = world.provider.managed_identity_token(None)
    assert missing.status == 400
    assert body(missing)["error"] == "invalid_resource"
    world.config.managed_identities.pop()  # no system-assigned identity any more
    none = world.provider.managed_identity_token("https://x")
    assert none.status == 400
    assert body(none)["error"] == "invalid_request"


def test_mi_lifetime_fault(world: World) -> None:
    world.faults.access_token_lifetime = 7200
    assert body(world.provider.managed_identity_token("https://x"))["expires_in"] == "7200"
