"""/authorize, the sign-in page, and authorization-code redemption."""

from __future__ import annotations

import pytest

from identitylib._protocol._jwt import decode_client_info
from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_CLI_ID,
    DEMO_TENANT_DOMAIN,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
)

from .provider_support import (
    ALICE,
    ALICE_OID,
    BASE,
    TENANT,
    WEB_REDIRECT,
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
    s256,
    sign_in,
    start_sign_in,
    token,
)


@pytest.fixture
def world() -> World:
    return make_world()


def test_sign_in_page_shape(world: World) -> None:
    reply = world.provider.authorize(BASE, TENANT, authorize_params(login_hint=ALICE))
    assert reply.status == 200
    assert reply.html
    page = reply.html
    assert f'<form method="post" action="{BASE}/{TENANT}/oauth2/v2.0/authorize">' in page
    fields = form_fields(page)
    assert fields["username"] == ALICE
    assert fields["password"] == ""
    assert fields["txn"]
    assert 'name="action" value="signin"' in page
    assert 'name="action" value="decline"' in page


def test_code_flow_end_to_end(world: World) -> None:
    reply = sign_in(world, authorize_params())
    assert reply.location
    assert reply.location.startswith(WEB_REDIRECT + "?")
    params = location_params(reply)
    assert params["state"] == "st-1"
    assert params["session_state"]
    assert decode_client_info(params["client_info"]) == {"uid": ALICE_OID, "utid": TENANT}
    data = body(redeem(world, params["code"]))
    assert data["token_type"] == "Bearer"
    assert data["scope"] == "api://demo-api/access_as_user openid profile"
    assert data["expires_in"] == data["ext_expires_in"] == 3600
    assert data["refresh_token"]
    assert "foci" not in data
    assert decode_client_info(data["client_info"]) == {"uid": ALICE_OID, "utid": TENANT}
    at = decode(world, data["access_token"], DEMO_API_ID)
    assert at["scp"] == "access_as_user"
    assert at["azp"] == DEMO_WEB_ID
    assert at["azpacr"] == "1"
    assert at["oid"] == ALICE_OID
    assert at["tid"] == TENANT
    assert at["iss"] == f"{BASE}/{TENANT}/v2.0"
    assert "idtyp" not in at
    assert "roles" not in at
    idt = decode(world, data["id_token"], DEMO_WEB_ID)
    assert idt["nonce"] == "nonce-1"
    assert idt["ver"] == "2.0"
    assert idt["preferred_username"] == ALICE
    assert idt["name"] == "Alice Example"
    assert idt["oid"] == ALICE_OID
    assert idt["tid"] == TENANT
    assert idt["iss"] == f"{BASE}/{TENANT}/v2.0"
    assert len(idt["sub"]) == 43
    assert idt["sub"] != at["sub"]
    assert idt["exp"] - idt["iat"] == 3600
    assert idt["nbf"] == idt["iat"]


def test_scopes_control_optional_members(world: World) -> None:
    params = authorize_params(scope="https://graph.microsoft.com/User.Read", client_info="0")
    data = body(redeem(world, get_code(world, params), client_info="0"))
    assert data["scope"] == "https://graph.microsoft.com/User.Read"
    assert not {"refresh_token", "id_token", "client_info"} & set(data)
    bare = body(redeem(world, get_code(world, authorize_params(scope="User.Read email openid"))))
    assert bare["scope"] == "User.Read email openid"
    assert decode(world, bare["id_token"], DEMO_WEB_ID)["email"] == ALICE


def test_default_scope_expands(world: World) -> None:
    params = authorize_params(scope="api://demo-api/.default openid")
    data = body(redeem(world, get_code(world, params)))
    assert data["scope"] == "api://demo-api/.default api://demo-api/access_as_user openid"


def test_user_claims_and_tenant_domain(world: World) -> None:
    world.config.users[0].claims = {"email": "alice@contoso.com", "tid": "spoofed"}
    code = get_code(world, authorize_params(), tenant=DEMO_TENANT_DOMAIN)
    idt = decode(world, body(redeem(world, code))["id_token"], DEMO_WEB_ID)
    assert idt["email"] == "alice@contoso.com"
    assert idt["tid"] == TENANT


def test_code_is_single_use(world: World) -> None:
    code = get_code(world)
    assert redeem(world, code).status == 200
    assert_error(redeem(world, code), "invalid_grant", 54005)


def test_code_expires(world: World) -> None:
    code = get_code(world)
    world.clock.advance(601)
    assert_error(redeem(world, code), "invalid_grant", 70008)


def test_unknown_code_and_missing_fields(world: World) -> None:
    assert_error(redeem(world, "bogus"), "invalid_grant", 70000)
    code = get_code(world)
    form = {"grant_type": "authorization_code", "client_id": DEMO_WEB_ID}
    form["client_secret"] = DEMO_WEB_SECRET
    assert_error(token(world, form), "invalid_request", 900144)
    assert_error(token(world, {**form, "code": code}), "invalid_request", 900144)


def test_redirect_uri_must_match_authorize(world: World) -> None:
    code = get_code(world)
    reply = redeem(world, code, redirect_uri="http://localhost:5000/other")
    assert_error(reply, "invalid_request", 50011)
    assert redeem(world, code).status == 200  # a failed attempt does not burn the code


def test_code_is_bound_to_client_and_tenant(world: World) -> None:
    code = get_code(world)
    other = redeem(world, code, client_id=DEMO_CLI_ID)
    assert_error(other, "invalid_client", 700025, 401)  # public client sent a secret
    form = {
        "grant_type": "authorization_code",
        "client_id": DEMO_CLI_ID,
        "code": code,
        "redirect_uri": WEB_REDIRECT,
    }
    assert_error(token(world, form), "invalid_grant", 70000)
    world.config.tenants.append(type(world.config.tenants[0])("other-tenant-id", ["other.test"]))
    reply = world.provider.token(
        BASE,
        "other.test",
        {
            "grant_type": "authorization_code",
            "client_id": DEMO_WEB_ID,
            "client_secret": DEMO_WEB_SECRET,
            "code": code,
            "redirect_uri": WEB_REDIRECT,
        },
        {},
    )
    assert_error(reply, "invalid_grant", 700005)


@pytest.mark.parametrize("method", ["S256", "plain", None])
def test_pkce(world: World, method: str | None) -> None:
    verifier = "v" * 50
    challenge = s256(verifier) if method == "S256" else verifier
    extra = {"code_challenge": challenge}
    if method:
        extra["code_challenge_method"] = method
    code = get_code(world, authorize_params(**extra))
    assert_error(redeem(world, code, code_verifier="w" * 50), "invalid_grant", 501481)
    assert_error(redeem(world, code), "invalid_grant", 501481)
    assert redeem(world, code, code_verifier=verifier).status == 200


def test_public_client_with_pkce_and_any_localhost_port(world: World) -> None:
    redirect = "http://localhost:53219"
    params = authorize_params(
        client_id=DEMO_CLI_ID,
        redirect_uri=redirect,
        code_challenge=s256("x" * 43),
        code_challenge_method="S256",
    )
    reply = sign_in(world, params)
    assert reply.location
    assert reply.location.startswith(redirect + "?code=")
    code = location_params(reply)["code"]
    form = {
        "grant_type": "authorization_code",
        "client_id": DEMO_CLI_ID,
        "code": code,
        "redirect_uri": redirect,
        "code_verifier": "x" * 43,
        "client_info": "1",
    }
    data = body(token(world, form))
    assert data["foci"] == "1"
    assert decode(world, data["access_token"], DEMO_API_ID)["azpacr"] == "0"


@pytest.mark.parametrize(
    "redirect",
    ["http://localhost:5000/elsewhere", "https://localhost:5000/getAToken", "http://127.0.0.1:99"],
)
def test_redirect_mismatch_is_an_error_page(world: World, redirect: str) -> None:
    reply = world.provider.authorize(BASE, TENANT, authorize_params(redirect_uri=redirect))
    assert reply.status == 400
    assert reply.location is None
    assert reply.html
    assert "AADSTS50011" in reply.html


def test_unknown_client_and_tenant_are_error_pages(world: World) -> None:
    reply = world.provider.authorize(BASE, TENANT, authorize_params(client_id="nope"))
    assert reply.status == 400
    assert reply.html
    assert "AADSTS700016" in reply.html
    assert reply.location is None
    reply = world.provider.authorize(BASE, "nosuch.example", authorize_params())
    assert reply.status == 400
    assert reply.html
    assert "AADSTS90002" in reply.html


def test_errors_redirected_to_the_client(world: World) -> None:
    reply = world.provider.authorize(BASE, TENANT, authorize_params(prompt="none"))
    params = location_params(reply)
    assert params["error"] == "login_required"
    assert params["state"] == "st-1"
    assert params["error_description"].startswith("AADSTS50058: ")
    reply = world.provider.authorize(BASE, TENANT, authorize_params(response_type="token"))
    assert location_params(reply)["error"] == "unsupported_response_type"
    reply = world.provider.authorize(BASE, TENANT, authorize_params(scope="api://x/y"))
    assert location_params(reply)["error"] == "invalid_resource"
    reply = world.provider.authorize(BASE, TENANT, authorize_params(claims="{bad"))
    assert location_params(reply)["error"] == "invalid_request"


def test_bad_password_shows_page_again(world: World) -> None:
    txn = start_sign_in(world, authorize_params())
    form = {"txn": txn, "username": ALICE, "password": "wrong"}
    reply = world.provider.sign_in(BASE, TENANT, form)
    assert reply.status == 200
    assert reply.html
    assert "invalid username or password" in reply.html
    assert form_fields(reply.html)["username"] == ALICE
    form["password"] = "alice-password"
    assert world.provider.sign_in(BASE, TENANT, form).status == 302
    assert world.provider.sign_in(BASE, TENANT, form).status == 400  # txn used up


def test_decline(world: World) -> None:
    txn = start_sign_in(world, authorize_params())
    reply = world.provider.sign_in(BASE, TENANT, {"txn": txn, "action": "decline"})
    params = location_params(reply)
    assert params["error"] == "access_denied"
    assert params["error_subcode"] == "cancel"
    assert params["error_description"].startswith("AADSTS65004: ")


def test_response_modes(world: World) -> None:
    reply = sign_in(world, authorize_params(response_mode="fragment"))
    assert reply.location
    assert "#code=" in reply.location
    assert location_params(reply)["state"] == "st-1"
    posted = sign_in(world, authorize_params(response_mode="form_post"))
    assert posted.status == 200
    assert posted.html
    assert f'<form method="post" action="{WEB_REDIRECT}">' in posted.html
    assert "<noscript>" in posted.html
    assert "document.forms[0].submit()" in posted.html
    fields = form_fields(posted.html)
    assert set(fields) == {"code", "state", "session_state", "client_info"}
    assert redeem(world, fields["code"]).status == 200


def test_unknown_txn(world: World) -> None:
    reply = world.provider.sign_in(BASE, TENANT, {"txn": "nope", "username": ALICE})
    assert reply.status == 400
    assert reply.html


def test_html_is_escaped(world: World) -> None:
    reply = world.provider.authorize(
        BASE, TENANT, authorize_params(login_hint='"><script>alert(1)</script>')
    )
    assert reply.html
    assert "<script>alert" not in reply.html
