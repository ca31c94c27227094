"""The web-app authorization code flow: flow dict, auth URI, redemption and its checks."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import time
import warnings
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from identitylib import ConfidentialClientApplication, PublicClientApplication
from identitylib._protocol._id_token import nonce_hash

from .conftest import CLIENT_ID, TENANT, add_discovery, oidc_config

BASE = "https://login.microsoftonline.com"
AUTHORITY = f"{BASE}/{TENANT}"
ISSUER = f"{BASE}/{TENANT}/v2.0"
AUTHORIZE = f"{BASE}/{TENANT}/oauth2/v2.0/authorize"
REDIRECT = "https://app.example/callback"
SCOPES = ["User.Read"]
DECORATED = ["User.Read", "offline_access", "openid", "profile"]
UID, UTID = "0000aaaa-0000-4000-8000-00000000a11c", TENANT


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token (the library decodes, never verifies, ID tokens from the endpoint)."""
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "k"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}.c2ln"


def client_info(uid: str = UID, utid: str = UTID) -> str:
    return b64url(json.dumps({"uid": uid, "utid": utid}).encode())


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def body_of(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


class FakeIdp:
    """A token endpoint that issues an ID token carrying the nonce of the last auth URI.

    ``id_claims`` overrides ID token claims (None removes one); codes are single use.
    Kept on ``responses`` rather than the emulator: the tests need ID tokens with wrong or
    missing claims (nonce, audience, issuer, auth_time), which no real server issues.
    """

    def __init__(
        self, http: responses.RequestsMock, token_endpoint: str, client_id: str = CLIENT_ID
    ) -> None:
        self.token_endpoint = token_endpoint
        self.client_id = client_id
        self.nonce: Optional[str] = None
        self.id_claims: dict[str, Any] = {}
        self.redeemed: set[str] = set()
        self.bodies: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_with: Optional[Exception] = None
        http.add_callback(responses.POST, token_endpoint, callback=self._token)

    def authorize(self, auth_uri: str) -> dict[str, str]:
        """What the authorization server would read from the URL; remembers the nonce."""
        params = query_of(auth_uri)
        self.nonce = params.get("nonce")
        return params

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.fail_with is not None:
            raise self.fail_with
        body = {k: v[0] for k, v in parse_qs(request.body).items()}
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        code = body.get("code", "")
        if code in self.redeemed:
            error = {
                "error": "invalid_grant",
                "error_description": "AADSTS54005: OAuth2 Authorization code was already redeemed",
                "error_codes": [54005],
            }
            return 400, {}, json.dumps(error)
        self.redeemed.add(code)
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": self.client_id,
            "iss": ISSUER,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": "subject-1",
            "oid": UID,
            "tid": TENANT,
            "preferred_username": "alice@contoso.example",
            "auth_time": now - 5,
            "nonce": self.nonce,
        }
        claims.update(self.id_claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        token = {
            "token_type": "Bearer",
            "scope": body.get("scope", ""),
            "expires_in": 3599,
            "access_token": f"at-for-{code}",
            "refresh_token": f"rt-for-{code}",
            "id_token": unsigned_jwt(claims),
            "client_info": client_info(),
        }
        return 200, {}, json.dumps(token)


@pytest.fixture
def idp(http: responses.RequestsMock) -> FakeIdp:
    return FakeIdp(http, add_discovery(http))


def web_app(**kwargs: Any) -> ConfidentialClientApplication:
    return ConfidentialClientApplication(CLIENT_ID, "s3cret", authority=AUTHORITY, **kwargs)


def accounts_in(app: Any) -> list[dict[str, Any]]:
    return list(app.token_cache.search("Account", query={"home_account_id": f"{UID}.{UTID}"}))


def refresh_tokens_in(app: Any) -> list[dict[str, Any]]:
    return list(app.token_cache.search("RefreshToken", query={"home_account_id": f"{UID}.{UTID}"}))


# ----------------------------------------------------------------------------- initiate


def test_flow_dict_and_auth_uri(http: responses.RequestsMock, idp: FakeIdp) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(
        SCOPES,
        redirect_uri=REDIRECT,
        prompt="select_account",
        login_hint="alice@contoso.example",
        domain_hint="contoso.example",
        max_age=600,
        response_mode="form_post",
    )
    assert set(flow) == {
        "state",
        "redirect_uri",
        "scope",
        "auth_uri",
        "code_verifier",
        "nonce",
        "claims_challenge",
        "max_age",
    }
    assert flow["scope"] == DECORATED
    assert flow["redirect_uri"] == REDIRECT
    assert flow["claims_challenge"] is None
    assert flow["max_age"] == 600
    assert len(flow["state"]) >= 16
    assert 43 <= len(flow["code_verifier"]) <= 128
    json.dumps(flow)  # storable in a web session
    assert flow["auth_uri"].startswith(AUTHORIZE + "?")
    params = query_of(flow["auth_uri"])
    challenge = b64url(hashlib.sha256(flow["code_verifier"].encode()).digest())
    assert params == {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "User.Read offline_access openid profile",
        "state": flow["state"],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": hashlib.sha256(flow["nonce"].encode()).hexdigest(),
        "client_info": "1",
        "login_hint": "alice@contoso.example",
        "prompt": "select_account",
        "domain_hint": "contoso.example",
        "max_age": "600",
        "response_mode": "form_post",
    }
    assert list(params)[:5] == ["client_id", "response_type", "redirect_uri", "scope", "state"]
    discoveries = len(http.calls)
    second = app.initiate_auth_code_flow(SCOPES)
    assert len(http.calls) == discoveries  # discovered once
    assert second["state"] != flow["state"]
    assert second["code_verifier"] != flow["code_verifier"]
    assert second["nonce"] != flow["nonce"]
    minimal = query_of(second["auth_uri"])
    assert "redirect_uri" not in minimal
    assert "response_mode" not in minimal
    assert "max_age" not in second


def test_given_state_and_exclude_scopes(idp: FakeIdp) -> None:
    app = web_app(exclude_scopes=["offline_access"])
    flow = app.initiate_auth_code_flow(SCOPES, state="my-state")
    assert flow["state"] == "my-state"
    assert flow["scope"] == ["User.Read", "openid", "profile"]
    assert query_of(flow["auth_uri"])["state"] == "my-state"


def test_claims_challenge_and_capabilities_in_the_url(idp: FakeIdp) -> None:
    app = web_app(client_capabilities=["CP1"])
    challenge = json.dumps({"access_token": {"acrs": {"essential": True, "value": "c1"}}})
    flow = app.initiate_auth_code_flow(SCOPES, claims_challenge=challenge)
    assert flow["claims_challenge"] == challenge
    claims = json.loads(query_of(flow["auth_uri"])["claims"])
    assert claims == {
        "access_token": {"acrs": {"essential": True, "value": "c1"}, "xms_cc": {"values": ["CP1"]}}
    }


def test_response_modes_raise_no_warning(idp: FakeIdp) -> None:
    app = web_app()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        modes = [
            query_of(app.initiate_auth_code_flow(SCOPES, response_mode=mode)["auth_uri"]).get(
                "response_mode"
            )
            for mode in (None, "query", "form_post")
        ]
    assert modes == [None, "query", "form_post"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scopes": ["openid"]}, "reserved"),
        ({"scopes": "User.Read"}, "list"),
        ({"response_mode": "fragment"}, "response_mode"),
        ({"max_age": -1}, "max_age"),
        ({"max_age": "60"}, "max_age"),
        ({"claims_challenge": "not json"}, "claims_challenge"),
        ({"state": 42}, "state"),
    ],
)
def test_initiate_rejects_bad_arguments(
    http: responses.RequestsMock, kwargs: dict[str, Any], message: str
) -> None:
    kwargs.setdefault("scopes", SCOPES)
    with pytest.raises(ValueError, match=message):
        web_app().initiate_auth_code_flow(**kwargs)
    assert len(http.calls) == 0


#: A domain tenant: discovered (a tenant GUID on a well-known cloud is not).
DOMAIN_AUTHORITY = f"{BASE}/contoso.onmicrosoft.com"


def test_discovery_failure_is_a_value_error(http: responses.RequestsMock) -> None:
    http.get(
        f"{DOMAIN_AUTHORITY}/v2.0/.well-known/openid-configuration",
        status=400,
        json={"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found"},
    )
    app = ConfidentialClientApplication(CLIENT_ID, "s3cret", authority=DOMAIN_AUTHORITY)
    with pytest.raises(ValueError, match="AADSTS90002"):
        app.initiate_auth_code_flow(SCOPES)


def test_authority_without_authorization_endpoint(http: responses.RequestsMock) -> None:
    config = oidc_config(tenant="contoso.onmicrosoft.com")
    del config["authorization_endpoint"]
    http.get(f"{DOMAIN_AUTHORITY}/v2.0/.well-known/openid-configuration", json=config)
    app = ConfidentialClientApplication(CLIENT_ID, "s3cret", authority=DOMAIN_AUTHORITY)
    with pytest.raises(ValueError, match="authorization_endpoint"):
        app.initiate_auth_code_flow(SCOPES)


# ----------------------------------------------------------------------------- redeem


def signed_in(idp: FakeIdp, flow: dict[str, Any], code: str = "code-1") -> dict[str, str]:
    """The form_post fields the browser brings back after the user signed in."""
    params = idp.authorize(flow["auth_uri"])
    return {
        "code": code,
        "state": params["state"],
        "session_state": "s",
        "client_info": client_info(),
    }


def test_redeem_success(idp: FakeIdp) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, response_mode="form_post")
    original = copy.deepcopy(flow)
    result = app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow))
    assert result["access_token"] == "at-for-code-1"
    assert result["token_source"] == "identity_provider"
    assert result["id_token_claims"]["preferred_username"] == "alice@contoso.example"
    assert flow == original  # the caller's dict is not modified
    body = idp.bodies[-1]
    assert body == {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": "code-1",
        "redirect_uri": REDIRECT,
        "code_verifier": flow["code_verifier"],
        "scope": "User.Read offline_access openid profile",
        "client_info": "1",
        "client_secret": "s3cret",
    }
    assert idp.headers[-1]["X-AnchorMailbox"] == f"Oid:{UID}@{UTID}"
    [account] = accounts_in(app)
    assert account["username"] == "alice@contoso.example"
    assert account["account_source"] == "authorization_code"
    assert [rt["secret"] for rt in refresh_tokens_in(app)] == ["rt-for-code-1"]


def test_public_client_sends_no_secret(http: responses.RequestsMock, idp: FakeIdp) -> None:
    app = PublicClientApplication(CLIENT_ID, authority=AUTHORITY)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri="http://localhost:1234")
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow))
    assert "client_secret" not in idp.bodies[-1]


def test_query_string_shapes_are_accepted(idp: FakeIdp) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, response_mode="query")
    response = {k: [v] for k, v in signed_in(idp, flow).items()}  # parse_qs() output
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)


def test_state_missing_or_wrong_is_a_value_error(
    http: responses.RequestsMock, idp: FakeIdp
) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    calls = len(http.calls)
    with pytest.raises(ValueError, match="state mismatch"):
        app.acquire_token_by_auth_code_flow(flow, {"code": "c", "state": "forged"})
    with pytest.raises(ValueError, match="state mismatch"):
        app.acquire_token_by_auth_code_flow(flow, {"code": "c"})
    with pytest.raises(ValueError, match="state missing"):
        app.acquire_token_by_auth_code_flow({}, {"code": "c", "state": flow["state"]})
    with pytest.raises(ValueError, match="auth_code_flow"):
        app.acquire_token_by_auth_code_flow("flow", {"code": "c"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='"code" or "error"'):
        app.acquire_token_by_auth_code_flow(flow, {"state": flow["state"]})
    assert len(http.calls) == calls  # nothing sent


def test_error_response_is_returned_without_anything_else(
    http: responses.RequestsMock, idp: FakeIdp
) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    calls = len(http.calls)
    result = app.acquire_token_by_auth_code_flow(
        flow,
        {
            "error": "access_denied",
            "error_description": "AADSTS65004: User declined to consent",
            "error_subcode": "cancel",
            "access_token": "injected",
            "state": flow["state"],
        },
    )
    assert result == {
        "error": "access_denied",
        "error_description": "AADSTS65004: User declined to consent",
    }
    assert len(http.calls) == calls


def test_scopes_must_be_a_subset(idp: FakeIdp) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(
        ["User.Read", "api://other/Data.Read"], redirect_uri=REDIRECT
    )
    with pytest.raises(ValueError, match="subset"):
        app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow), scopes=["Mail.Read"])
    result = app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow), scopes=["User.Read"])
    assert "access_token" in result
    assert idp.bodies[-1]["scope"] == "User.Read offline_access openid profile"


def test_data_adds_fields_but_never_replaces_the_code(idp: FakeIdp) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    app.acquire_token_by_auth_code_flow(
        flow, signed_in(idp, flow), data={"code": "other", "extra": "1"}
    )
    assert idp.bodies[-1]["code"] == "code-1"
    assert idp.bodies[-1]["extra"] == "1"


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"nonce": "not-the-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"aud": "someone-else"}, "audience"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "https://evil.example/v2.0"}, "issued by"),
    ],
)
def test_bad_id_token_is_an_error_result(
    idp: FakeIdp, claims: dict[str, Any], problem: str
) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    idp.id_claims = claims
    result = app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow))
    assert result["error"] == "invalid_id_token"
    assert problem in result["error_description"]
    assert "access_token" not in result
    assert accounts_in(app) == []
    assert refresh_tokens_in(app) == []


def test_code_redeemed_twice_is_the_servers_error(idp: FakeIdp) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    response = signed_in(idp, flow)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)
    again = app.acquire_token_by_auth_code_flow(flow, response)
    assert again["error"] == "invalid_grant"
    assert again["error_codes"] == [54005]
    assert again["correlation_id"]


def test_max_age_checks_auth_time(idp: FakeIdp) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, max_age=60)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow))

    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, max_age=60)
    idp.id_claims = {"auth_time": int(time.time()) - 3600}
    stale = app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow, "code-2"))
    assert stale["error"] == "invalid_id_token"
    assert "max_age" in stale["error_description"]
    assert [rt["secret"] for rt in refresh_tokens_in(app)] == ["rt-for-code-1"]  # not cached

    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, max_age=60)
    idp.id_claims = {"auth_time": None}
    missing = app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow, "code-3"))
    assert missing["error"] == "invalid_id_token"
    assert "auth_time" in missing["error_description"]


@pytest.mark.parametrize("max_age", [None, 60])
def test_transport_failure_reaches_the_caller(idp: FakeIdp, max_age: Optional[int]) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, max_age=max_age)
    idp.fail_with = requests.ConnectionError("token endpoint unreachable")
    with pytest.raises(requests.ConnectionError):
        app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow))
    assert refresh_tokens_in(app) == []


def test_server_error_with_max_age_is_the_servers(idp: FakeIdp) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, max_age=60)
    response = signed_in(idp, flow)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)
    assert app.acquire_token_by_auth_code_flow(flow, response)["error_codes"] == [54005]


def test_iss_in_the_response_must_be_the_authority(
    http: responses.RequestsMock, idp: FakeIdp
) -> None:
    app = web_app()
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    calls = len(http.calls)
    mixed_up = dict(signed_in(idp, flow), iss="https://attacker.example/v2.0")
    result = app.acquire_token_by_auth_code_flow(flow, mixed_up)
    assert result["error"] == "issuer_mismatch"
    assert len(http.calls) == calls  # the code was not sent anywhere
    error_too = {"error": "access_denied", "state": flow["state"], "iss": "https://x.example"}
    assert app.acquire_token_by_auth_code_flow(flow, error_too)["error"] == "issuer_mismatch"
    same = dict(signed_in(idp, flow, "code-2"), iss=ISSUER)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, same)


def test_iss_check_understands_the_tenant_template(http: responses.RequestsMock) -> None:
    config = oidc_config(tenant="organizations")
    config["issuer"] = f"{BASE}/{{tenantid}}/v2.0"
    http.get(f"{BASE}/organizations/v2.0/.well-known/openid-configuration", json=config)
    idp = FakeIdp(http, config["token_endpoint"])
    app = ConfidentialClientApplication(CLIENT_ID, "s3cret", authority=f"{BASE}/organizations")
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    good = dict(signed_in(idp, flow), iss=ISSUER)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, good)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    bad = dict(signed_in(idp, flow, "code-2"), iss=f"{BASE}/a/b/v2.0")
    assert app.acquire_token_by_auth_code_flow(flow, bad)["error"] == "issuer_mismatch"


def test_claims_challenge_is_sent_when_redeeming(idp: FakeIdp) -> None:
    app = web_app(client_capabilities=["CP1"])
    challenge = json.dumps({"access_token": {"nbf": {"essential": True, "value": "1"}}})
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, claims_challenge=challenge)
    app.acquire_token_by_auth_code_flow(flow, signed_in(idp, flow))
    sent = json.loads(idp.bodies[-1]["claims"])
    assert sent["access_token"]["xms_cc"] == {"values": ["CP1"]}
    assert sent["access_token"]["nbf"]["value"] == "1"
    assert flow["claims_challenge"] == challenge  # still there: the flow is not mutated


# ----------------------------------------------------------------------------- deprecated


def test_get_authorization_request_url(idp: FakeIdp) -> None:
    app = web_app(client_capabilities=["CP1"])
    with pytest.warns(DeprecationWarning, match="initiate_auth_code_flow"):
        url = app.get_authorization_request_url(
            SCOPES,
            login_hint="alice@contoso.example",
            state="st",
            redirect_uri=REDIRECT,
            nonce="raw-nonce",
            prompt="login",
            domain_hint="contoso.example",
        )
    assert url.startswith(AUTHORIZE + "?")
    params = query_of(url)
    assert params["response_type"] == "code"
    assert params["nonce"] == "raw-nonce"
    assert params["state"] == "st"
    assert params["scope"] == "User.Read offline_access openid profile"
    assert params["prompt"] == "login"
    assert json.loads(params["claims"]) == {"access_token": {"xms_cc": {"values": ["CP1"]}}}
    assert "code_challenge" not in params


def test_get_authorization_request_url_with_another_authority(
    http: responses.RequestsMock, idp: FakeIdp
) -> None:
    other_tenant = "99999999-2222-3333-4444-555555555555"
    add_discovery(http, tenant=other_tenant)
    with pytest.warns(DeprecationWarning, match="initiate_auth_code_flow"):  # noqa: SIM117
        with pytest.warns(UserWarning, match="authority"):
            url = web_app().get_authorization_request_url(
                SCOPES, authority=f"{BASE}/{other_tenant}"
            )
    assert url.startswith(f"{BASE}/{other_tenant}/oauth2/v2.0/authorize?")


def test_acquire_token_by_authorization_code(idp: FakeIdp) -> None:
    app = web_app()
    with pytest.warns(DeprecationWarning, match="initiate_auth_code_flow"):
        url = app.get_authorization_request_url(SCOPES, redirect_uri=REDIRECT, nonce="n-1")
    idp.authorize(url)  # the IdP copies the nonce as sent: here the raw value
    with pytest.warns(DeprecationWarning, match="acquire_token_by_auth_code_flow"):
        result = app.acquire_token_by_authorization_code(
            "code-1", SCOPES, redirect_uri=REDIRECT, nonce="n-1"
        )
    assert result["access_token"] == "at-for-code-1"
    body = idp.bodies[-1]
    assert body["redirect_uri"] == REDIRECT
    assert "code_verifier" not in body
    with pytest.warns(DeprecationWarning, match="acquire_token_by_auth_code_flow"):
        wrong = app.acquire_token_by_authorization_code(
            "code-2", SCOPES, redirect_uri=REDIRECT, nonce="other"
        )
    assert wrong["error"] == "invalid_id_token"


def test_acquire_token_by_authorization_code_needs_a_list(http: responses.RequestsMock) -> None:
    with pytest.raises(AssertionError):
        web_app().acquire_token_by_authorization_code("c", ("User.Read",))  # type: ignore[arg-type]
    assert len(http.calls) == 0


def test_nonce_hash_is_sha256_hex() -> None:
    assert nonce_hash("abc") == hashlib.sha256(b"abc").hexdigest()
