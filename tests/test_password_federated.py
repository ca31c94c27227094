"""acquire_token_by_username_password for a federated user: user realm discovery, the MEX
document, WS-Trust and the SAML bearer grant, end to end against the emulator's federated
domain, with the blocking and the asyncio API; the wire format with ``responses``.

Each failure of the federation server is an error result (never a raw exception), and
nothing is cached then.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest
import responses

import identitylib
from identitylib.emulator import DEMO_CLI_ID, DEMO_FEDERATED_DOMAIN, Emulator
from identitylib.emulator._federation import mex_document

from .conftest import TENANT, add_user_realm
from .hardening._apis import Api
from .test_federation_protocol import ADFS_MEX, SAML1_ASSERTION, STS, rstr_13

CAROL, CAROL_PASSWORD = f"carol@{DEMO_FEDERATED_DOMAIN}", "carol-password"
ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
SCOPES = ["User.Read"]
REALM = "/common/userrealm/"
MEX = "/adfs/services/trust/mex"
WSTRUST_13 = "/adfs/services/trust/13/usernamemixed"
WSTRUST_2005 = "/adfs/services/trust/2005/usernamemixed"


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Api:
    return Api(request.param)


@pytest.fixture(autouse=True)
def _no_ropc_warning() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def sign_in(api: Api, emu: Emulator, username: str, password: str, **kwargs: Any) -> Any:
    app = kwargs.pop("app", None) or api.pca(DEMO_CLI_ID, authority=emu.authority())
    return app, api.call(app, "acquire_token_by_username_password", username, password, SCOPES)


def paths(emu: Emulator) -> list[tuple[str, str]]:
    """The requests served, the user realm's username cut off."""
    return [(m, p.split(REALM)[0] + REALM if REALM in p else p) for m, p in emu.requests]


def token_path(emu: Emulator) -> str:
    return f"/{emu.authority().rsplit('/', 1)[1]}/oauth2/v2.0/token"


# ---------------------------------------------------------------------- success


def test_federated_user_signs_in_through_ws_trust(api: Api, emulator: Emulator) -> None:
    app, result = sign_in(api, emulator, CAROL, CAROL_PASSWORD)
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"
    assert result["id_token_claims"]["preferred_username"] == CAROL
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "fed"]  # the emulator's sign-in through its AD FS
    assert paths(emulator)[-4:] == [
        ("GET", REALM),
        ("GET", MEX),
        ("POST", WSTRUST_13),  # WS-Trust 1.3 preferred, though the MEX lists 2005 first
        ("POST", token_path(emulator)),
    ]
    (account,) = api.call(app, "get_accounts")
    assert account["username"] == CAROL
    assert account["account_source"] is None  # as msal: a SAML grant is not listed


def test_a_federated_users_tokens_serve_silent_calls(emulator: Emulator) -> None:
    app, result = sign_in(Api("sync"), emulator, CAROL, CAROL_PASSWORD)
    assert "access_token" in result, result
    (account,) = app.get_accounts(username=CAROL)
    emulator.reset_requests()
    assert app.acquire_token_silent(SCOPES, account)["token_source"] == "cache"
    refreshed = app.acquire_token_silent(SCOPES, account, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider"
    assert [m for m, _ in emulator.requests] == ["POST"]  # the refresh token, no WS-Trust


def test_saml2_assertions_are_redeemed_too(api: Api, emulator: Emulator) -> None:
    emulator.faults.federation_saml2 = True  # the emulator refuses them with saml1_1-bearer
    _, result = sign_in(api, emulator, CAROL, CAROL_PASSWORD)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == CAROL


def test_managed_users_still_use_the_password_grant(api: Api, emulator: Emulator) -> None:
    _, result = sign_in(api, emulator, ALICE, ALICE_PASSWORD)
    assert "access_token" in result, result
    assert paths(emulator)[-2:] == [("GET", REALM), ("POST", token_path(emulator))]


def test_the_realms_ws_trust_endpoint_serves_without_a_mex_document(
    api: Api, emulator: Emulator
) -> None:
    realm = {
        "account_type": "Federated",
        "federation_active_auth_url": f"{emulator.base_url}{WSTRUST_2005}",
    }
    emulator.faults.inject(200, path_contains=REALM, body=realm)
    _, result = sign_in(api, emulator, CAROL, CAROL_PASSWORD)
    assert "access_token" in result, result
    assert ("POST", WSTRUST_2005) in emulator.requests
    assert ("GET", MEX) not in emulator.requests


def test_a_host_without_user_realm_is_remembered(api: Api, emulator: Emulator) -> None:
    app = api.pca(DEMO_CLI_ID, authority=emulator.authority())
    emulator.faults.inject(404, path_contains=REALM)
    for _ in range(2):
        _, result = sign_in(api, emulator, ALICE, ALICE_PASSWORD, app=app)
        assert "access_token" in result, result
    assert [p for _, p in paths(emulator)].count(REALM) == 1


# ---------------------------------------------------------------------- failures


def assert_failed(result: Any, error: str, emu: Emulator, *words: str) -> None:
    assert "access_token" not in result
    assert result["error"] == error, result
    assert result["correlation_id"]
    for word in words:
        assert word in result["error_description"], result
    assert ("POST", token_path(emu)) not in emu.requests  # no assertion, no token request


def test_wrong_password_is_invalid_grant_and_sent_once(api: Api, emulator: Emulator) -> None:
    app, result = sign_in(api, emulator, CAROL, "not-carols-password")
    assert_failed(result, "invalid_grant", emulator, "refused the username or password", "ID3242")
    assert emulator.requests.count(("POST", WSTRUST_13)) == 1  # AD FS's 500 is not retried
    assert api.call(app, "get_accounts") == []
    # The next try with the right password is sent, not answered from a throttle.
    _, result = sign_in(api, emulator, CAROL, CAROL_PASSWORD, app=app)
    assert "access_token" in result, result


@pytest.mark.parametrize("status", [400, 429])
def test_a_ws_trust_failure_is_never_answered_from_memory(
    api: Api, emulator: Emulator, status: int
) -> None:
    """The throttle replays an identical failing token request; a WS-Trust request is
    never identical (nor replayed): another user, or the right password, gets through."""
    app = api.pca(DEMO_CLI_ID, authority=emulator.authority())
    emulator.faults.inject(status, path_contains=WSTRUST_13, text="Refused")
    _, failed = sign_in(api, emulator, CAROL, "wrong", app=app)
    assert failed["error"] == "invalid_response"
    _, result = sign_in(api, emulator, CAROL, CAROL_PASSWORD, app=app)
    assert "access_token" in result, result
    assert emulator.requests.count(("POST", WSTRUST_13)) == 2


def test_the_token_endpoint_refuses_a_federated_users_password(emulator: Emulator) -> None:
    """What identitylib did before WS-Trust: the password grant for a federated user."""
    app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emulator.authority())
    emulator.faults.inject(200, path_contains=REALM, body={"account_type": "Managed"})
    result = app.acquire_token_by_username_password(CAROL, CAROL_PASSWORD, SCOPES)
    assert result["error"] == "invalid_grant"
    assert 50126 in result["error_codes"]


BILLION_LAUGHS = (
    '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>'
)


@pytest.mark.parametrize(
    ("status", "text", "words"),
    [
        (500, "<html>AD FS is down</html>", ("HTTP 500",)),
        (200, "<wsdl:definitions", ("not well-formed",)),
        (200, '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]><x>&e;</x>', ("entities",)),
        (200, BILLION_LAUGHS, ("document type declaration",)),
        (200, mex_document("https://sts.example").replace("WssUsernameToken10", "Other"),
         ("no https username/password", "MSA accounts")),
    ],
    ids=["http-error", "malformed", "xxe", "billion-laughs", "no-endpoint"],
)  # fmt: skip
def test_an_unusable_mex_document_is_an_error_result(
    api: Api, emulator: Emulator, status: int, text: str, words: tuple[str, ...]
) -> None:
    emulator.faults.inject(status, path_contains=MEX, text=text, count=2)
    _, result = sign_in(api, emulator, CAROL, CAROL_PASSWORD)
    assert_failed(result, "invalid_response", emulator, "MEX document", *words)
    assert not any("usernamemixed" in path for _, path in emulator.requests)


@pytest.mark.parametrize(
    ("status", "text", "words"),
    [
        (503, "Service Unavailable", ("HTTP 503", "not well-formed")),
        (200, rstr_13(""), ("no RequestSecurityTokenResponse",)),
        (200, rstr_13(SAML1_ASSERTION, "urn:ietf:params:oauth:token-type:jwt"),
         ("not a SAML assertion",)),
        (200, BILLION_LAUGHS, ("document type declaration",)),
    ],
    ids=["http-error", "no-assertion", "unknown-token-type", "billion-laughs"],
)  # fmt: skip
def test_an_unusable_ws_trust_answer_is_an_error_result(
    api: Api, emulator: Emulator, status: int, text: str, words: tuple[str, ...]
) -> None:
    emulator.faults.inject(status, path_contains=WSTRUST_13, text=text)
    _, result = sign_in(api, emulator, CAROL, CAROL_PASSWORD)
    assert_failed(result, "invalid_response", emulator, *words)
    assert emulator.requests.count(("POST", WSTRUST_13)) == 1


def test_a_failing_user_realm_is_an_error_result(api: Api, emulator: Emulator) -> None:
    emulator.faults.inject(500, path_contains=REALM, count=2, text="<html/>")
    _, result = sign_in(api, emulator, CAROL, CAROL_PASSWORD)
    assert_failed(result, "invalid_response", emulator, "User realm discovery failed")


@pytest.mark.parametrize(
    "realm",
    [
        {"account_type": "Federated", "federation_metadata_url": "http://127.0.0.1:1/mex"},
        {"account_type": "Federated", "federation_active_auth_url": "http://127.0.0.1:1/x"},
        {"account_type": "Federated"},
    ],
    ids=["http-mex", "http-ws-trust", "no-endpoint"],
)
def test_an_https_authority_sends_no_password_over_http(
    identitylib_emulator_tls: Emulator, realm: dict[str, str]
) -> None:
    emu = identitylib_emulator_tls
    emu.reset_requests()
    app = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path
    )
    emu.faults.inject(200, path_contains=REALM, body=realm)
    try:
        result = app.acquire_token_by_username_password(CAROL, CAROL_PASSWORD, SCOPES)
    finally:
        emu.faults.reset()
    assert_failed(result, "invalid_response", emu)
    assert [p for _, p in paths(emu)][-1] == REALM  # nothing sent after the user realm


# ------------------------------------------------------------------ wire format


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def test_wire_format(http: responses.RequestsMock) -> None:
    # A tenant GUID on a well-known cloud: no discovery, its token endpoint is known.
    token_endpoint = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    add_user_realm(
        http,
        account_type="Federated",
        federation_protocol="WSTrust",
        federation_metadata_url=f"{STS}/mex",
        federation_active_auth_url=f"{STS}/2005/usernamemixed",
        cloud_audience_urn="urn:federation:Example",
    )
    http.get(f"{STS}/mex", body=ADFS_MEX)
    ws_trust = http.post(f"{STS}/13/usernamemixed", body=rstr_13(SAML1_ASSERTION), status=200)
    token = http.post(token_endpoint, json={"access_token": "at", "token_type": "Bearer"})
    app = identitylib.PublicClientApplication(
        "cid", authority=f"https://login.microsoftonline.com/{TENANT}"
    )
    result = app.acquire_token_by_username_password(
        "carol@fabrikam.example",
        "pa<ss>",
        SCOPES,
        claims_challenge='{"access_token": {"xms_cc": {"values": ["cp1"]}}}',
        data={"extra": "1"},
    )
    assert result["access_token"] == "at"
    realm_call = next(c for c in http.calls if REALM in c.request.url)
    assert realm_call.request.url == (
        "https://login.microsoftonline.com/common/userrealm/carol@fabrikam.example?api-version=1.0"
    )
    assert realm_call.request.headers["client-request-id"]
    (rst,) = ws_trust.calls
    body = rst.request.body
    assert isinstance(body, bytes)
    assert b"<wsse:Password>pa&lt;ss&gt;</wsse:Password>" in body
    assert b"<wsa:Address>urn:federation:Example</wsa:Address>" in body  # the realm's audience
    assert rst.request.headers["SOAPAction"] == (
        "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
    )
    (redeem,) = token.calls
    fields = dict(parse_qsl(str(redeem.request.body)))
    encoded = fields.pop("assertion")
    assert jwt.utils.base64url_decode(encoded) == SAML1_ASSERTION.encode()
    assert fields == {
        "grant_type": "urn:ietf:params:oauth:grant-type:saml1_1-bearer",
        "client_id": "cid",
        "scope": "User.Read offline_access openid profile",
        "client_info": "1",
        "claims": '{"access_token":{"xms_cc":{"values":["cp1"]}}}',
        "extra": "1",
    }
    assert "X-AnchorMailbox" not in redeem.request.headers  # as msal's SAML grant
    assert (
        redeem.request.headers["client-request-id"]
        == realm_call.request.headers["client-request-id"]
    )
