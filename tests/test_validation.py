"""identitylib.validation: what is accepted and every reason to reject an access token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import traceback
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization

import identitylib
from identitylib.validation import AccessTokenValidator, TokenValidationError

from .conftest import TENANT
from .test_validation_fakes import (
    API_ID,
    API_URI,
    AUTHORITY,
    DROP,
    EC_KEY,
    ENTRA,
    KEY_A,
    KEY_B,
    OTHER_TENANT,
    TEMPLATE_ISSUER,
    FakeIssuer,
    make_validator,
    reset_caches,
)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def issuer(http: responses.RequestsMock) -> FakeIssuer:
    return FakeIssuer(http)


def rejected(validator: AccessTokenValidator, token: Any, **kwargs: Any) -> TokenValidationError:
    with pytest.raises(TokenValidationError) as caught:
        validator.validate(token, **kwargs)
    return caught.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: Any, payload: Any, signature: bytes = b"sig") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


# --- accepted -------------------------------------------------------------------------------


def test_valid_token_returns_its_claims(issuer: FakeIssuer) -> None:
    validator = make_validator(required_scopes=["access_as_user"])
    claims = validator.validate(issuer.token())
    assert claims["oid"] is not None
    assert claims["aud"] == API_ID
    assert claims["scp"] == "access_as_user"
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


def test_second_token_uses_the_cached_keys(issuer: FakeIssuer) -> None:
    validator = make_validator()
    for _ in range(5):
        validator.validate(issuer.token())
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


def test_nothing_is_fetched_by_the_constructor(issuer: FakeIssuer) -> None:
    make_validator()
    assert (issuer.discovery_requests, issuer.jwks_requests) == (0, 0)


@pytest.mark.parametrize("aud", [API_URI, [API_URI], ["someone-else", API_ID]])
def test_audience_string_or_list(issuer: FakeIssuer, aud: Any) -> None:
    assert make_validator().validate(issuer.token(aud=aud))["aud"] == aud


def test_bearer_header(issuer: FakeIssuer) -> None:
    validator = make_validator()
    token = issuer.token()
    assert validator.validate_bearer_header(f"Bearer {token}")["tid"] == TENANT
    assert validator.validate_bearer_header(f"bearer  {token}")["tid"] == TENANT


def test_token_without_kid_and_a_single_published_key(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http, keys={None: KEY_A})
    assert make_validator().validate(issuer.token(kid=None))["tid"] == TENANT


def test_other_asymmetric_algorithms_when_allowed(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http, keys={"rsa": KEY_A, "ec": EC_KEY})
    validator = make_validator(allowed_algorithms=["RS256", "PS256", "ES256"])
    validator.validate(issuer.token(kid="rsa", alg="PS256"))
    validator.validate(issuer.token(key=EC_KEY, kid="ec", alg="ES256"))
    # RS256 only (the default): PS256 is refused
    assert "PS256" in rejected(make_validator(), issuer.token(kid="rsa", alg="PS256")).description


# --- signature, keys, algorithms ---------------------------------------------------------------


def test_bad_signature(issuer: FakeIssuer) -> None:
    error = rejected(make_validator(), issuer.token(key=KEY_B))  # KEY_B, but kid of KEY_A
    assert error.error == "invalid_token"
    assert error.status_code == 401
    assert "signature" in error.description


def test_tampered_payload(issuer: FakeIssuer) -> None:
    header, _, signature = issuer.token().split(".")
    forged = b64(json.dumps(issuer.claims(scp="access_as_user admin")).encode())
    error = rejected(make_validator(), f"{header}.{forged}.{signature}")
    assert "signature" in error.description


def test_unknown_kid_is_refetched_once_then_rejected(issuer: FakeIssuer) -> None:
    validator = make_validator()
    validator.validate(issuer.token())
    assert issuer.jwks_requests == 1
    error = rejected(validator, issuer.token(key=KEY_B, kid="kid-b"))
    assert error.error == "invalid_token"
    assert "key" in error.description
    assert issuer.jwks_requests == 2


def test_unknown_kid_on_first_fetch_needs_no_second_fetch(issuer: FakeIssuer) -> None:
    rejected(make_validator(), issuer.token(key=KEY_B, kid="kid-b"))
    assert issuer.jwks_requests == 1


def test_token_without_kid_and_several_keys(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http, keys={"kid-a": KEY_A, "kid-b": KEY_B})
    assert "kid" in rejected(make_validator(), issuer.token(kid=None)).description


def test_alg_none_is_refused_without_any_request(issuer: FakeIssuer) -> None:
    unsigned = jwt.encode(issuer.claims(), "", algorithm="none")
    rejected(make_validator(), unsigned)
    header = {"alg": "none", "typ": "JWT", "kid": "kid-a"}
    error = rejected(make_validator(), compact(header, issuer.claims()))
    assert "algorithm" in error.description
    assert issuer.jwks_requests == 0


def test_hs256_with_the_public_key_as_secret_is_refused(issuer: FakeIssuer) -> None:
    public_pem = KEY_A.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "kid-a"}).encode())
    payload = b64(json.dumps(issuer.claims()).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    error = rejected(make_validator(), f"{header}.{payload}.{b64(mac)}")
    assert error.error == "invalid_token"
    assert "HS256" in error.description
    # and such an algorithm cannot even be configured
    for unsafe in (["HS256"], ["RS256", "none"], [], ["XX999"]):
        with pytest.raises(ValueError, match="allowed_algorithms"):
            make_validator(allowed_algorithms=unsafe)


def test_key_type_must_fit_the_algorithm(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http, keys={"ec": EC_KEY})
    validator = make_validator(allowed_algorithms=["RS256", "ES256"])
    # an RS256 token naming the EC key (signed with an RSA key)
    error = rejected(validator, issuer.token(key=KEY_A, kid="ec"))
    assert error.error == "invalid_token"


def test_key_alg_member_must_match(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http)
    issuer.publish({"kid-a": KEY_A}, extra={"alg": "RS384"})
    error = rejected(make_validator(allowed_algorithms=["RS256", "RS384"]), issuer.token())
    assert "does not match" in error.description


def test_encryption_keys_and_private_members_are_ignored(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http)
    issuer.publish({"kid-a": KEY_A}, extra={"use": "enc"})
    assert "key" in rejected(make_validator(), issuer.token()).description
    reset_caches()
    issuer.publish({"kid-a": KEY_A}, extra={"d": "AAAA"})  # a private member: dropped
    make_validator().validate(issuer.token())


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "..",
        "a.b.c.d.e",
        b64(b"not json") + ".e30.c2ln",
        b64(b"[1]") + ".e30.c2ln",
        "x" * 70_000,
        12345,
        None,
    ],
    ids=[
        "empty",
        "one-part",
        "two-parts",
        "garbage",
        "empty-parts",
        "jwe",
        "header-not-json",
        "header-not-object",
        "too-long",
        "int",
        "none",
    ],
)
def test_malformed_tokens(issuer: FakeIssuer, token: Any) -> None:
    error = rejected(make_validator(), token)
    assert error.error == "invalid_token"
    assert issuer.jwks_requests == 0


def test_payload_that_is_not_an_object(issuer: FakeIssuer) -> None:
    token = jwt.PyJWS().encode(b"[1, 2]", KEY_A, algorithm="RS256", headers={"kid": "kid-a"})
    assert "object" in rejected(make_validator(), token).description


def test_critical_headers_are_refused(issuer: FakeIssuer) -> None:
    token = issuer.token(headers={"crit": ["exp"]})
    assert rejected(make_validator(), token).error == "invalid_token"


# --- lifetime ----------------------------------------------------------------------------------


def test_expired_and_not_yet_valid(issuer: FakeIssuer) -> None:
    now = int(time.time())
    validator = make_validator()
    assert "expired" in rejected(validator, issuer.token(exp=now - 3600)).description
    assert "not valid yet" in rejected(validator, issuer.token(nbf=now + 3600)).description
    assert "exp" in rejected(validator, issuer.token(exp=DROP)).description
    validator.validate(issuer.token(nbf=DROP, iat=DROP))


@pytest.mark.parametrize(
    ("exp_offset", "valid"), [(1, True), (-299, True), (-300, False), (-301, False)]
)
def test_expiry_skew_edges(issuer: FakeIssuer, exp_offset: int, valid: bool) -> None:
    now = 1_900_000_000
    validator = make_validator()
    validator._now = lambda: float(now)
    token = issuer.token(iat=now - 3600, nbf=now - 3600, exp=now + exp_offset)
    if valid:
        validator.validate(token)
    else:
        assert "expired" in rejected(validator, token).description


@pytest.mark.parametrize(
    ("nbf_offset", "valid"), [(0, True), (300, True), (301, False), (3600, False)]
)
def test_not_before_skew_edges(issuer: FakeIssuer, nbf_offset: int, valid: bool) -> None:
    now = 1_900_000_000
    validator = make_validator()
    validator._now = lambda: float(now)
    token = issuer.token(iat=now, nbf=now + nbf_offset, exp=now + 7200)
    if valid:
        validator.validate(token)
    else:
        assert "not valid yet" in rejected(validator, token).description


def test_custom_clock_skew(issuer: FakeIssuer) -> None:
    now = 1_900_000_000
    validator = make_validator(clock_skew=0)
    validator._now = lambda: float(now)
    assert "expired" in rejected(validator, issuer.token(exp=now)).description
    validator.validate(issuer.token(iat=now, nbf=now, exp=now + 1))


# --- audience and issuer ----------------------------------------------------------------------


@pytest.mark.parametrize("aud", ["https://graph.microsoft.com", ["a", "b"], DROP])
def test_wrong_audience(issuer: FakeIssuer, aud: Any) -> None:
    error = rejected(make_validator(), issuer.token(aud=aud))
    assert error.error == "invalid_token"
    assert "aud" in error.description


def test_wrong_issuer(issuer: FakeIssuer) -> None:
    error = rejected(make_validator(), issuer.token(iss=f"{ENTRA}/{OTHER_TENANT}/v2.0"))
    assert "issuer" in error.description
    assert "iss" in rejected(make_validator(), issuer.token(iss=DROP)).description


def test_issuers_allowlist_replaces_the_discovered_issuer(issuer: FakeIssuer) -> None:
    other = "https://sts.example.com/"
    validator = make_validator(issuers=[other])
    validator.validate(issuer.token(iss=other))
    assert "issuer" in rejected(validator, issuer.token()).description


@pytest.fixture
def common(http: responses.RequestsMock) -> FakeIssuer:
    """The ``common`` authority: template issuer, keys scoped to the template issuer."""
    return FakeIssuer(http, tenant="common", issuer=TEMPLATE_ISSUER, key_issuer=TEMPLATE_ISSUER)


def common_token(common: FakeIssuer, tid: Any = OTHER_TENANT, **claims: Any) -> str:
    iss = f"{ENTRA}/{tid}/v2.0" if isinstance(tid, str) else f"{ENTRA}/x/v2.0"
    claims.setdefault("iss", iss)
    return common.token(tid=tid, **claims)


def test_multi_tenant_template_issuer(common: FakeIssuer) -> None:
    validator = make_validator(authority=f"{ENTRA}/common")
    for tid in (TENANT, OTHER_TENANT):
        assert validator.validate(common_token(common, tid))["tid"] == tid


def test_multi_tenant_needs_a_tid(common: FakeIssuer) -> None:
    validator = make_validator(authority=f"{ENTRA}/common")
    token = common_token(common, DROP, iss=f"{ENTRA}/{TENANT}/v2.0")
    assert "tid" in rejected(validator, token).description


def test_multi_tenant_tid_must_be_a_guid(common: FakeIssuer) -> None:
    validator = make_validator(authority=f"{ENTRA}/common")
    token = common_token(common, "contoso.com")
    assert "GUID" in rejected(validator, token).description


def test_multi_tenant_issuer_must_name_the_tid(common: FakeIssuer) -> None:
    validator = make_validator(authority=f"{ENTRA}/common")
    token = common_token(common, OTHER_TENANT, iss=f"{ENTRA}/{TENANT}/v2.0")
    assert "issuer" in rejected(validator, token).description


def test_allowed_tenants(common: FakeIssuer) -> None:
    validator = make_validator(authority=f"{ENTRA}/common", allowed_tenants=[TENANT.upper()])
    validator.validate(common_token(common, TENANT))
    error = rejected(validator, common_token(common, OTHER_TENANT))
    assert error.error == "invalid_token"
    assert "tenant" in error.description


def test_allowed_tenants_needs_a_tid(issuer: FakeIssuer) -> None:
    validator = make_validator(allowed_tenants=[TENANT])
    assert "tid" in rejected(validator, issuer.token(tid=DROP)).description


def test_key_scoped_to_another_issuer(http: responses.RequestsMock) -> None:
    # Entra publishes e.g. the consumer tenant's keys with a concrete issuer: such a key
    # must not sign tokens of other tenants even under the template.
    issuer = FakeIssuer(
        http, tenant="common", issuer=TEMPLATE_ISSUER, key_issuer=f"{ENTRA}/{TENANT}/v2.0"
    )
    validator = make_validator(authority=f"{ENTRA}/common")
    validator.validate(common_token(issuer, TENANT))
    error = rejected(validator, common_token(issuer, OTHER_TENANT))
    assert "another issuer" in error.description


def test_template_key_issuer_needs_a_guid_tid(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http, key_issuer=TEMPLATE_ISSUER)
    make_validator().validate(issuer.token())
    assert "tid" in rejected(make_validator(), issuer.token(tid=DROP)).description


def test_v1_issuer_only_when_accepted(http: responses.RequestsMock) -> None:
    issuer = FakeIssuer(http, key_issuer=TEMPLATE_ISSUER)
    v1 = issuer.token(iss=f"https://sts.windows.net/{TENANT}/", aud=API_URI, ver="1.0")
    assert "issuer" in rejected(make_validator(), v1).description
    assert make_validator(accept_v1_issuer=True).validate(v1)["ver"] == "1.0"
    # a v1 issuer naming another tenant than the authority's
    other = issuer.token(iss=f"https://sts.windows.net/{OTHER_TENANT}/", tid=OTHER_TENANT)
    assert "issuer" in rejected(make_validator(accept_v1_issuer=True), other).description


def test_v1_issuer_with_the_common_authority(common: FakeIssuer) -> None:
    validator = make_validator(authority=f"{ENTRA}/common", accept_v1_issuer=True)
    token = common_token(common, OTHER_TENANT, iss=f"https://sts.windows.net/{OTHER_TENANT}/")
    assert validator.validate(token)["tid"] == OTHER_TENANT
    forged = common_token(common, OTHER_TENANT, iss=f"https://sts.windows.net/{TENANT}/")
    assert "issuer" in rejected(validator, forged).description


# --- scopes and roles ------------------------------------------------------------------------


def test_missing_scope(issuer: FakeIssuer) -> None:
    validator = make_validator(required_scopes=["access_as_user", "Files.Read"])
    error = rejected(validator, issuer.token())
    assert error.error == "insufficient_scope"
    assert error.status_code == 403
    assert error.scope == "Files.Read access_as_user"
    validator.validate(issuer.token(scp="Files.Read access_as_user openid"))


def test_scopes_as_a_list_or_in_the_scope_claim(issuer: FakeIssuer) -> None:
    validator = make_validator(required_scopes="access_as_user")
    validator.validate(issuer.token(scp=["access_as_user"]))
    validator.validate(issuer.token(scp=DROP, scope="openid access_as_user"))
    assert rejected(validator, issuer.token(scp=DROP)).error == "insufficient_scope"


def test_missing_role(issuer: FakeIssuer) -> None:
    validator = make_validator(required_roles=["Data.Read.All"])
    error = rejected(validator, issuer.token(scp=DROP, roles=["Other"]))
    assert error.error == "insufficient_scope"
    assert "Data.Read.All" in error.description
    assert error.scope is None
    validator.validate(issuer.token(scp=DROP, roles=["Other", "Data.Read.All"]))


def test_scopes_or_roles(issuer: FakeIssuer) -> None:
    validator = make_validator(required_scopes=["access_as_user"], required_roles=["Data.Read.All"])
    validator.validate(issuer.token())  # a user token with the scope
    validator.validate(issuer.token(scp=DROP, roles=["Data.Read.All"]))  # an app token
    error = rejected(validator, issuer.token(scp="other", roles=["Other"]))
    assert "neither" in error.description


def test_per_call_requirements(issuer: FakeIssuer) -> None:
    validator = make_validator(required_scopes=["access_as_user"])
    validator.validate(issuer.token(), required_scopes=[])
    assert rejected(validator, issuer.token(), required_scopes=["admin"]).scope == "admin"
    assert rejected(validator, issuer.token(), required_roles=["R"]).error == "insufficient_scope"


# --- ID tokens and tokens without permissions ------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"nonce": "n-1"},  # an ID token of a sign-in (OpenID Connect nonce)
        {"at_hash": "aGFzaA"},
        {"c_hash": "aGFzaA"},
        {"azp": DROP, "scp": DROP, "roles": ["Admin"]},  # Entra: names no client; app roles
        {"azp": DROP, "scp": DROP},
    ],
)
def test_an_id_token_is_not_an_access_token(issuer: FakeIssuer, claims: Any) -> None:
    validator = make_validator(accept_tokens_without_permissions=True)
    error = rejected(validator, issuer.token(**claims))
    assert error.error == "invalid_token"
    assert error.status_code == 401
    assert "ID token" in error.description
    # Also when the token has what an endpoint requires.
    roles = make_validator(required_roles=["Admin"])
    assert "ID token" in rejected(roles, issuer.token(**{"roles": ["Admin"], **claims})).description


def test_entra_v1_and_v2_access_tokens_are_access_tokens(issuer: FakeIssuer) -> None:
    validator = make_validator(accept_v1_issuer=True)
    assert "azp" in validator.validate(issuer.token())  # v2: azp
    v1 = issuer.token(
        ver="1.0",
        azp=DROP,
        appid="client-app",
        aud=API_URI,
        iss=f"https://sts.windows.net/{TENANT}/",
    )
    assert validator.validate(v1)["appid"] == "client-app"


def test_an_rfc_9068_access_token_needs_no_azp(issuer: FakeIssuer) -> None:
    validator = make_validator()
    token = issuer.token(headers={"typ": "at+jwt"}, azp=DROP, client_id="client-app")
    assert validator.validate(token)["client_id"] == "client-app"
    assert rejected(validator, issuer.token(azp=DROP)).error == "invalid_token"


def test_other_issuers_tokens_need_no_azp_but_no_id_token_claims(issuer: FakeIssuer) -> None:
    validator = AccessTokenValidator(oidc_authority=f"{ENTRA}/{TENANT}/v2.0", audience=API_ID)
    validator.validate(issuer.token(azp=DROP, client_id="client-app"))
    assert "ID token" in rejected(validator, issuer.token(nonce="n")).description


def test_a_token_without_scopes_or_roles_is_refused(issuer: FakeIssuer) -> None:
    error = rejected(make_validator(), issuer.token(scp=DROP))
    assert error.error == "invalid_token"
    assert error.status_code == 401
    assert "neither scopes (scp) nor app roles (roles)" in error.description
    assert rejected(make_validator(), issuer.token(scp="")).error == "invalid_token"
    assert rejected(make_validator(), issuer.token(scp=DROP, roles=[])).error == "invalid_token"
    make_validator().validate(issuer.token(scp=DROP, roles=["Data.Read.All"]))
    make_validator().validate(issuer.token(scp=DROP, scope="openid"))


def test_tokens_without_permissions_when_the_api_authorizes_by_acl(issuer: FakeIssuer) -> None:
    validator = make_validator(accept_tokens_without_permissions=True)
    claims = validator.validate(issuer.token(scp=DROP))
    assert claims["azp"] == "client-app"  # what the API's access-control list checks
    # Required scopes or roles are still required.
    error = rejected(validator, issuer.token(scp=DROP), required_scopes=["access_as_user"])
    assert error.error == "insufficient_scope"


# --- wrong claim types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "1900000000"},
        {"exp": True},
        {"nbf": "0"},
        {"iat": [1]},
        {"aud": 5},
        {"aud": [API_ID, 5]},
        {"iss": 5},
        {"tid": 5},
        {"scp": 5},
        {"scp": ["access_as_user", 5]},
        {"roles": {"Data.Read.All": True}},
    ],
    ids=lambda c: "-".join(f"{k}={type(v).__name__}" for k, v in c.items()),
)
def test_wrong_claim_types(issuer: FakeIssuer, claims: dict[str, Any]) -> None:
    validator = make_validator(required_scopes=["access_as_user"], required_roles=["R"])
    error = rejected(validator, issuer.token(**claims))
    assert error.error == "invalid_token", error


def test_kid_of_the_wrong_type(issuer: FakeIssuer) -> None:
    token = compact({"alg": "RS256", "kid": 5}, issuer.claims())
    assert rejected(make_validator(), token).error == "invalid_token"


# --- failures to fetch ------------------------------------------------------------------------


def test_keys_unavailable_is_a_503_and_backs_off(issuer: FakeIssuer) -> None:
    issuer.jwks_status = 500
    validator = make_validator()
    error = rejected(validator, issuer.token())
    assert error.error == "temporarily_unavailable"
    assert error.status_code == 503
    assert "500" in error.description
    rejected(validator, issuer.token())
    # the failed fetch was retried once by the transport; the second validation waits for
    # the back-off and makes no request
    assert issuer.jwks_requests == 2


@pytest.mark.parametrize(
    "document", [[], {"keys": "x"}, {"keys": []}, {"keys": [{"kty": "oct", "k": "c2Vj"}]}]
)
def test_unusable_key_sets(issuer: FakeIssuer, document: Any) -> None:
    issuer.serve_raw(document)
    assert rejected(make_validator(), issuer.token()).error == "temporarily_unavailable"


def test_discovery_failure_is_a_503(http: responses.RequestsMock) -> None:
    http.get(f"{AUTHORITY}/v2.0/.well-known/openid-configuration", status=400, json={})
    validator = make_validator()
    token = jwt.encode({"a": 1}, KEY_A, algorithm="RS256", headers={"kid": "k"})
    error = rejected(validator, token)
    assert error.error == "temporarily_unavailable"
    assert "configuration" in error.description
    rejected(validator, token)
    assert len(http.calls) == 1  # backed off


def test_a_kept_discovery_failure_is_raised_fresh_each_time(http: responses.RequestsMock) -> None:
    http.get(f"{AUTHORITY}/v2.0/.well-known/openid-configuration", status=400, json={})
    token = jwt.encode({"a": 1}, KEY_A, algorithm="RS256", headers={"kid": "k"})
    errors: list[TokenValidationError] = []
    seen = []
    for _ in range(3):
        errors.append(rejected(make_validator(), token))
        seen.append(len(traceback.extract_tb(errors[-1].__traceback__)))
    assert len(http.calls) == 1  # the second and third answered from the kept failure
    assert len({id(e) for e in errors}) == 3
    assert seen[2] <= seen[1] <= seen[0]
    assert len(traceback.extract_tb(errors[0].__traceback__)) == seen[0]  # not grown since
    assert {(e.error, e.description, e.status_code) for e in errors} == {
        (errors[0].error, errors[0].description, 503)
    }


def test_a_kept_key_fetch_failure_is_raised_fresh_each_time(issuer: FakeIssuer) -> None:
    issuer.jwks_status = 404
    errors: list[TokenValidationError] = []
    seen = []
    for _ in range(3):
        errors.append(rejected(make_validator(), issuer.token()))
        seen.append(len(traceback.extract_tb(errors[-1].__traceback__)))
    assert issuer.jwks_requests == 1  # the second and third answered from the kept failure
    assert len({id(e) for e in errors}) == 3
    assert seen[2] <= seen[1] <= seen[0]
    assert len(traceback.extract_tb(errors[0].__traceback__)) == seen[0]
    assert {(e.error, e.description) for e in errors} == {
        ("temporarily_unavailable", errors[0].description)
    }


def test_transport_exception_is_a_503(issuer: FakeIssuer) -> None:
    class Broken:
        def get(self, url: str, **kwargs: Any) -> Any:
            raise ConnectionError("boom")

        def post(self, url: str, **kwargs: Any) -> Any:
            raise AssertionError("no POST")

    error = rejected(make_validator(http_client=Broken()), issuer.token())
    assert error.error == "temporarily_unavailable"
    assert "ConnectionError" in error.description


def test_custom_http_client_is_used(issuer: FakeIssuer) -> None:
    import requests

    seen: list[str] = []

    class Spy(requests.Session):
        def get(self, url: Any, **kwargs: Any) -> Any:
            seen.append(str(url))
            return super().get(url, **kwargs)

    make_validator(http_client=Spy()).validate(issuer.token())
    assert [u.rsplit("/", 1)[-1] for u in seen] == ["openid-configuration", "keys"]


# --- construction, exception type, hygiene --------------------------------------------------------


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="authority"):
        AccessTokenValidator(audience="x")
    with pytest.raises(ValueError, match="not both"):
        AccessTokenValidator(AUTHORITY, oidc_authority="https://idp.example.com", audience="x")
    with pytest.raises(ValueError, match="audience"):
        AccessTokenValidator(AUTHORITY, audience=[])
    with pytest.raises(TypeError):
        AccessTokenValidator(AUTHORITY, audience=["x", 5])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="clock_skew"):
        AccessTokenValidator(AUTHORITY, audience="x", clock_skew=-1)
    with pytest.raises(ValueError, match="accept_v1_issuer"):
        AccessTokenValidator(
            oidc_authority="https://idp.example.com", audience="x", accept_v1_issuer=True
        )
    with pytest.raises(ValueError, match="http"):
        AccessTokenValidator("http://idp.example.com/tenant", audience="x")


def test_exception_type(issuer: FakeIssuer) -> None:
    error = rejected(make_validator(), issuer.token(aud="other"))
    assert isinstance(error, identitylib.MsalError)
    assert isinstance(error, ValueError)
    assert error.error_description == error.description == str(error)


def test_the_token_is_never_logged_nor_in_errors(
    issuer: FakeIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="identitylib")
    validator = make_validator(required_scopes=["admin"])
    tokens = [issuer.token(), issuer.token(key=KEY_B), issuer.token(aud="x")]
    for token in tokens:
        error = rejected(validator, token)
        for text in (str(error), error.www_authenticate, repr(error)):
            assert token not in text
            assert token.split(".")[2] not in text
    assert caplog.records, "rejections are logged at DEBUG"
    for token in tokens:
        assert token.split(".")[1] not in caplog.text
        assert token.split(".")[2] not in caplog.text
