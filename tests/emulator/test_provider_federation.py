"""The emulated federation server (MEX, WS-Trust 1.3 and 2005) and the SAML bearer grants
of the token endpoint, at the model level."""

from __future__ import annotations

import base64
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from identitylib._protocol._xml import parse_xml
from identitylib._protocol.federation.mex import (
    WsTrustEndpoint,
    choose_endpoint,
    usernamemixed_endpoints,
)
from identitylib._protocol.federation.names import (
    SAML_1,
    SAML_2,
    WSTRUST_13,
    WSTRUST_2005,
    WsTrustVersion,
)
from identitylib._protocol.federation.rst import envelope
from identitylib._protocol.federation.rstr import SamlAssertion, WsTrustFault, parse_rstr
from identitylib._protocol.grants.saml_bearer import SAML1_1, SAML2, encode_assertion
from identitylib.emulator._config import DEMO_CLI_ID
from identitylib.emulator._federation import endpoint_url
from identitylib.emulator._reply import Reply

from .provider_support import (
    ALICE,
    ALICE_PASSWORD,
    BASE,
    World,
    assert_error,
    body,
    make_world,
    token,
)

CAROL, CAROL_PASSWORD = "carol@fabrikam.example", "carol-password"
SEGMENTS = {WSTRUST_13.name: "13", WSTRUST_2005.name: "2005"}


@pytest.fixture
def world() -> World:
    return make_world()


def rst(
    world: World,
    version: WsTrustVersion = WSTRUST_13,
    *,
    username: str = CAROL,
    password: str = CAROL_PASSWORD,
    applies_to: str = "urn:federation:MicrosoftOnline",
    now: float | None = None,
) -> str:
    return envelope(
        WsTrustEndpoint(endpoint_url(BASE, version), version),
        username=username,
        password=password,
        applies_to=applies_to,
        now=world.clock.now if now is None else now,
        message_id="0f0f0f0f-0000-4000-8000-000000000001",
    )


def post(world: World, text: str, version: WsTrustVersion = WSTRUST_13) -> Reply:
    return world.provider.wstrust(BASE, SEGMENTS[version.name], text)


def assertion_of(reply: Reply) -> SamlAssertion:
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"] == "application/soap+xml; charset=utf-8"
    answer = parse_rstr(reply.text or "")
    assert isinstance(answer, SamlAssertion), answer
    return answer


def fault_of(reply: Reply) -> WsTrustFault:
    assert reply.status == 500, reply
    answer = parse_rstr(reply.text or "")
    assert isinstance(answer, WsTrustFault), answer
    return answer


def test_the_mex_document_offers_both_usernamemixed_endpoints(world: World) -> None:
    reply = world.provider.federation_metadata(BASE)
    assert reply.status == 200
    endpoints = usernamemixed_endpoints(reply.text or "")
    assert [(e.address, e.version) for e in endpoints] == [
        (f"{BASE}/adfs/services/trust/2005/usernamemixed", WSTRUST_2005),
        (f"{BASE}/adfs/services/trust/13/usernamemixed", WSTRUST_13),
    ]  # the Windows-integrated endpoint is not one of them
    assert "windowstransport" in (reply.text or "")
    chosen = choose_endpoint(endpoints, lambda _: True)
    assert chosen is not None
    assert chosen.version is WSTRUST_13


@pytest.mark.parametrize("version", [WSTRUST_13, WSTRUST_2005], ids=["1.3", "2005"])
def test_a_federated_user_gets_a_saml_assertion(world: World, version: WsTrustVersion) -> None:
    reply = post(world, rst(world, version), version)
    answer = assertion_of(reply)
    assert answer.token_type == SAML_1
    relates_to = "<a:RelatesTo>urn:uuid:0f0f0f0f-0000-4000-8000-000000000001</a:RelatesTo>"
    assert relates_to in (reply.text or "")
    saml = parse_xml(answer.assertion.decode(), "assertion")
    ns = "{urn:oasis:names:tc:SAML:1.0:assertion}"
    assert saml.tag == f"{ns}Assertion"
    upn = saml.find(f"{ns}AttributeStatement/{ns}Attribute[@AttributeName='UPN']")
    assert upn is not None
    assert upn.findtext(f"{ns}AttributeValue") == CAROL
    audience = saml.findtext(f"{ns}Conditions/{ns}AudienceRestrictionCondition/{ns}Audience")
    assert audience == "urn:federation:MicrosoftOnline"


def test_saml2_on_demand(world: World) -> None:
    world.faults.federation_saml2 = True
    answer = assertion_of(post(world, rst(world)))
    assert answer.token_type == SAML_2
    assert parse_xml(answer.assertion.decode(), "a").tag == (
        "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion"
    )


@pytest.mark.parametrize(
    ("make", "subcode"),
    [
        (lambda w: rst(w, password="wrong"), "a:FailedAuthentication"),
        (lambda w: rst(w, username="nobody@fabrikam.example"), "a:FailedAuthentication"),
        (lambda w: rst(w, username=ALICE, password=ALICE_PASSWORD), "a:FailedAuthentication"),
        (lambda w: rst(w, WSTRUST_2005), "a:ActionNotSupported"),  # to the 1.3 endpoint
        (lambda w: rst(w, now=w.clock.now - 3600), "a:InvalidSecurity"),
        (lambda w: rst(w, password=""), "a:InvalidSecurity"),
        (lambda w: rst(w, applies_to="urn:other"), "a:InvalidScope"),
        (lambda w: rst(w).replace("/Issue</wst:RequestType>", "/Cancel</wst:RequestType>"),
         "a:InvalidRequest"),
        (lambda w: "<s:Envelope", "a:InvalidRequest"),
        (lambda w: "", "a:InvalidRequest"),
    ],
    ids=["wrong-password", "unknown-user", "managed-user", "wrong-action", "expired",
         "no-password", "wrong-audience", "wrong-request-type", "malformed", "empty"],
)  # fmt: skip
def test_refusals_are_soap_faults(world: World, make: Any, subcode: str) -> None:
    fault = fault_of(post(world, make(world)))
    assert fault.code == "s:Sender"
    assert fault.subcode == subcode
    assert fault.reason


def test_entities_in_a_request_are_refused_unread(world: World, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("file-content-4471")
    xxe = f'<!DOCTYPE s [<!ENTITY x SYSTEM "file://{secret}">]>' + rst(world).replace(CAROL, "&x;")
    reply = post(world, xxe)
    assert fault_of(reply).subcode == "a:InvalidRequest"
    assert "file-content-4471" not in (reply.text or "")


def test_random_requests_get_soap_answers_never_a_crash(world: World) -> None:
    rng = random.Random(7)
    valid = rst(world)
    for _ in range(200):
        cut = rng.randrange(len(valid))
        text = rng.choice([valid[:cut], valid[cut:], valid[:cut] + "<" + valid[cut:]])
        reply = post(world, text, rng.choice([WSTRUST_13, WSTRUST_2005]))
        assert reply.json is None, reply  # a SOAP answer, not the model's server_error
        assert reply.status in (200, 500)


# ------------------------------------------------------------------ token endpoint


def redeem(world: World, assertion: bytes, grant_type: str = SAML1_1, **form: str) -> Reply:
    fields = {
        "grant_type": grant_type,
        "client_id": DEMO_CLI_ID,
        "assertion": encode_assertion(assertion),
        "scope": "User.Read openid profile offline_access",
        "client_info": "1",
        **form,
    }
    return token(world, fields)


def test_an_issued_assertion_is_redeemed_by_its_grant(world: World) -> None:
    assertion = assertion_of(post(world, rst(world))).assertion
    result = body(redeem(world, assertion))
    assert result["token_type"] == "Bearer"
    assert result["refresh_token"]
    world.faults.federation_saml2 = True
    saml2 = assertion_of(post(world, rst(world))).assertion
    assert "access_token" in body(redeem(world, saml2, SAML2))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda a: a.replace(b"carol@", b"alice@"), "not issued"),  # altered
        (lambda a: a + b" ", None),  # surrounding whitespace is no change
        (lambda a: b"<saml:Assertion/>", "not issued"),  # forged
    ],
    ids=["altered", "whitespace", "forged"],
)
def test_only_the_issued_bytes_are_accepted(world: World, change: Any, words: str | None) -> None:
    assertion = assertion_of(post(world, rst(world))).assertion
    reply = redeem(world, change(assertion))
    if words is None:
        assert "access_token" in body(reply)
    else:
        data = assert_error(reply, "invalid_grant", 50008)
        assert words in data["error_description"]


def test_refused_assertions(world: World) -> None:
    assertion = assertion_of(post(world, rst(world))).assertion
    wrong_grant = assert_error(redeem(world, assertion, SAML2), "invalid_grant", 50008)
    assert "SAML 1.1 assertion cannot be redeemed" in wrong_grant["error_description"]
    bad = {"grant_type": SAML1_1, "client_id": DEMO_CLI_ID, "assertion": "not base64!"}
    assert_error(token(world, bad), "invalid_grant", 50008)
    assert_error(token(world, {**bad, "assertion": ""}), "invalid_request", 900144)
    world.clock.advance(3601)
    expired = assert_error(redeem(world, assertion), "invalid_grant", 50008)
    assert "expired" in expired["error_description"]


def test_the_password_grant_refuses_federated_users(world: World) -> None:
    form = {
        "grant_type": "password",
        "client_id": DEMO_CLI_ID,
        "username": CAROL,
        "password": CAROL_PASSWORD,
        "scope": "User.Read",
    }
    assert_error(token(world, form), "invalid_grant", 50126)


def test_assertion_ids_are_unique(world: World) -> None:
    first = assertion_of(post(world, rst(world))).assertion
    second = assertion_of(post(world, rst(world))).assertion
    assert first != second
    assert base64.b64encode(uuid.UUID("0a1b2c3d-0000-4000-8000-00000000ca01").bytes) in first
