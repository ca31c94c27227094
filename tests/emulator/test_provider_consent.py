"""Consent per user and client app: the consent page, and consent_required for silent
requests (incremental consent)."""

from __future__ import annotations

import pytest

from identitylib.emulator._config import (
    DEMO_API2_ID,
    DEMO_API2_URI,
    DEMO_API_ID,
    DEMO_CLI_ID,
    DEMO_WEB_ID,
)

from .provider_support import (
    ALICE,
    ALICE_PASSWORD,
    BASE,
    TENANT,
    World,
    assert_error,
    authorize_params,
    body,
    decode,
    form_fields,
    get_code,
    location_params,
    make_world,
    redeem,
    sign_in,
    token,
    user_tokens,
)

API2_READ = f"{DEMO_API2_URI}/read"
WITH_API2 = f"{API2_READ} openid profile offline_access"


@pytest.fixture
def world() -> World:
    return make_world()


def _refresh(world: World, refresh_token: str, scope: str) -> dict[str, str]:
    form = {
        "grant_type": "refresh_token",
        "client_id": DEMO_CLI_ID,
        "refresh_token": refresh_token,
        "scope": scope,
    }
    reply = token(world, form)
    return {"status": str(reply.status), **body(reply)}


def test_the_demo_scopes_need_no_consent(world: World) -> None:
    reply = sign_in(world, authorize_params())
    assert reply.status == 302
    assert "code" in location_params(reply)


def test_a_scope_without_consent_shows_the_consent_page(world: World) -> None:
    reply = sign_in(world, authorize_params(scope=WITH_API2))
    assert reply.status == 200
    assert reply.html
    assert "Permissions requested" in reply.html
    assert API2_READ in reply.html
    assert 'name="action" value="accept"' in reply.html
    fields = form_fields(reply.html)
    assert set(fields) == {"txn"}
    accepted = world.provider.sign_in(BASE, TENANT, {"txn": fields["txn"], "action": "accept"})
    code = location_params(accepted)["code"]
    tokens = body(redeem(world, code, scope=WITH_API2))
    assert decode(world, tokens["access_token"], DEMO_API2_ID)["scp"] == "read"
    again = sign_in(world, authorize_params(scope=WITH_API2))
    assert again.status == 302, "consent is remembered for the user and app"


def test_accept_before_signing_in_is_refused(world: World) -> None:
    reply = world.provider.authorize(BASE, TENANT, authorize_params(scope=WITH_API2))
    assert reply.html
    txn = form_fields(reply.html)["txn"]
    refused = world.provider.sign_in(BASE, TENANT, {"txn": txn, "action": "accept"})
    assert refused.status == 400
    assert refused.location is None


def test_declining_consent_is_access_denied(world: World) -> None:
    reply = sign_in(world, authorize_params(scope=WITH_API2))
    assert reply.html
    txn = form_fields(reply.html)["txn"]
    declined = world.provider.sign_in(BASE, TENANT, {"txn": txn, "action": "decline"})
    params = location_params(declined)
    assert params["error"] == "access_denied"
    assert params["state"] == "st-1"
    assert world.provider.sign_in(BASE, TENANT, {"txn": txn, "action": "accept"}).status == 400


def test_prompt_consent_always_asks(world: World) -> None:
    reply = sign_in(world, authorize_params(prompt="consent"))
    assert reply.html
    assert "Permissions requested" in reply.html
    assert "api://demo-api/access_as_user" in reply.html


def test_consent_is_per_client_app(world: World) -> None:
    world.provider.grant_consent(ALICE, DEMO_CLI_ID, [API2_READ])
    assert sign_in(world, authorize_params(scope=WITH_API2)).status == 200  # the web app asks


def test_silent_request_without_consent_is_consent_required(world: World) -> None:
    refresh_token = user_tokens(world)["refresh_token"]
    data = _refresh(world, refresh_token, WITH_API2)
    assert data["status"] == "400"
    assert data["error"] == "invalid_grant"
    assert data["suberror"] == "consent_required"
    assert data["error_codes"] == [65001]
    assert "has not consented" in data["error_description"]
    world.provider.grant_consent(ALICE, DEMO_CLI_ID, [API2_READ])
    assert "access_token" in _refresh(world, refresh_token, WITH_API2)
    assert world.provider.revoke_consent(ALICE) == 1
    assert _refresh(world, refresh_token, WITH_API2)["error"] == "invalid_grant"


def test_password_grant_without_consent_is_consent_required(world: World) -> None:
    form = {
        "grant_type": "password",
        "client_id": DEMO_CLI_ID,
        "username": ALICE,
        "password": ALICE_PASSWORD,
        "scope": WITH_API2,
    }
    data = assert_error(token(world, form), "invalid_grant", 65001)
    assert data["suberror"] == "consent_required"


def test_code_redeemed_for_a_scope_never_consented_is_refused(world: World) -> None:
    code = get_code(world, authorize_params())
    data = assert_error(redeem(world, code, scope=WITH_API2), "invalid_grant", 65001)
    assert data["suberror"] == "consent_required"


def test_approving_a_device_code_consents_to_its_scopes(world: World) -> None:
    started = body(
        world.provider.devicecode(BASE, TENANT, {"client_id": DEMO_CLI_ID, "scope": WITH_API2}, {})
    )
    form = {
        "user_code": started["user_code"],
        "username": ALICE,
        "password": ALICE_PASSWORD,
        "action": "approve",
    }
    assert world.provider.device_login(BASE, form).status == 200
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": DEMO_CLI_ID,
        "device_code": started["device_code"],
    }
    tokens = body(token(world, poll))
    assert decode(world, tokens["access_token"], DEMO_API2_ID)["scp"] == "read"


def test_admin_helpers_refuse_unknown_users_and_scopes(world: World) -> None:
    with pytest.raises(ValueError, match="no user"):
        world.provider.grant_consent("nobody@contoso.onmicrosoft.com", DEMO_WEB_ID, [API2_READ])
    with pytest.raises(ValueError):
        world.provider.grant_consent(ALICE, DEMO_WEB_ID, ["api://nowhere/x"])
    assert world.provider.revoke_consent() == 0


def test_the_demo_api_keeps_working_without_consent(world: World) -> None:
    tokens = user_tokens(world, "api://demo-api/access_as_user openid")
    assert decode(world, tokens["access_token"], DEMO_API_ID)["scp"] == "access_as_user"
