"""identitylib.validation against the emulator over real HTTP(S): tokens it mints validate."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import identitylib
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_ID,
    Emulator,
    EmulatorConfig,
)
from identitylib.validation import AccessTokenValidator, TokenValidationError
from identitylib.validation._discovery import clear_failures
from identitylib.validation._jwks_cache import JWKS_CACHE

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
USER_SCOPE = [f"{DEMO_API_URI}/access_as_user"]
APP_SCOPE = [f"{DEMO_API_URI}/.default"]
GRAPH = ["https://graph.microsoft.com/User.Read"]


@pytest.fixture(scope="module", params=["http", "https"])
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(tls=request.param == "https") as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> Iterator[None]:
    emu.faults.reset()
    emu.reset_requests()
    JWKS_CACHE.clear()
    clear_failures()
    yield
    JWKS_CACHE.clear()


def validator(emu: Emulator, **kwargs: Any) -> AccessTokenValidator:
    kwargs.setdefault("audience", [DEMO_API_ID, DEMO_API_URI])
    authority = kwargs.pop("authority", emu.authority())
    return AccessTokenValidator(authority, verify=emu.ca_path or True, **kwargs)


def app_token(emu: Emulator, scopes: list[str] = APP_SCOPE) -> str:
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), verify=emu.ca_path or True
    )
    result = app.acquire_token_for_client(scopes)
    assert "access_token" in result, result
    return str(result["access_token"])


def user_token(emu: Emulator, scopes: list[str] = USER_SCOPE) -> str:
    app = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path or True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(*ALICE, scopes)
    assert "access_token" in result, result
    return str(result["access_token"])


def jwks_gets(emu: Emulator) -> int:
    return sum(1 for m, p in emu.requests if m == "GET" and p.endswith("/discovery/v2.0/keys"))


def test_app_token_with_roles(emu: Emulator) -> None:
    claims = validator(emu, required_roles=["Data.Read.All"]).validate(app_token(emu))
    assert claims["roles"] == ["Data.Read.All"]
    assert claims["azp"] == DEMO_DAEMON_ID
    assert claims["tid"] == DEMO_TENANT_ID


def test_user_token_with_scope(emu: Emulator) -> None:
    check = validator(emu, required_scopes=["access_as_user"])
    claims = check.validate_bearer_header(f"Bearer {user_token(emu)}")
    assert claims["scp"] == "access_as_user"
    assert claims["preferred_username"] == ALICE[0]
    assert claims["azp"] == DEMO_CLI_ID


def test_scope_or_role_endpoint(emu: Emulator) -> None:
    check = validator(emu, required_scopes=["access_as_user"], required_roles=["Data.Read.All"])
    check.validate(user_token(emu))
    check.validate(app_token(emu))
    with pytest.raises(TokenValidationError) as caught:
        check.validate(app_token(emu), required_roles=["Data.Write.All"])
    assert caught.value.status_code == 403


def test_one_discovery_and_one_jwks_fetch(emu: Emulator) -> None:
    check = validator(emu)
    token = app_token(emu)
    emu.reset_requests()
    for _ in range(3):
        check.validate(token)
    validator(emu).validate(token)  # another validator, same process cache
    assert jwks_gets(emu) == 1
    assert not [p for _, p in emu.requests if p.endswith("openid-configuration")]  # app's


def test_key_rollover_needs_exactly_one_refetch(emu: Emulator) -> None:
    check = validator(emu)
    check.validate(app_token(emu))
    assert jwks_gets(emu) == 1
    emu.provider.rollover_signing_key()
    new_token = user_token(emu)  # a new app object: a fresh token, signed with the new key
    for _ in range(3):
        check.validate(new_token)
    assert jwks_gets(emu) == 2


def test_token_for_another_audience_is_rejected(emu: Emulator) -> None:
    with pytest.raises(TokenValidationError) as caught:
        validator(emu).validate(user_token(emu, GRAPH))
    assert caught.value.error == "invalid_token"
    assert "audience" in caught.value.description
    assert caught.value.www_authenticate.startswith('Bearer error="invalid_token"')


def test_forged_token_is_rejected(emu: Emulator) -> None:
    header, payload, signature = user_token(emu).split(".")
    _, app_payload, _ = app_token(emu).split(".")
    with pytest.raises(TokenValidationError, match="signature"):
        validator(emu).validate(f"{header}.{payload}.{signature[:-4]}AAAA")
    # the app token's claims under the user token's signature
    with pytest.raises(TokenValidationError, match="signature"):
        validator(emu).validate(f"{header}.{app_payload}.{signature}")


def test_multi_tenant_common_authority(emu: Emulator) -> None:
    common = validator(emu, authority=emu.authority("common"))
    claims = common.validate(user_token(emu))
    assert claims["iss"] == f"{emu.base_url}/{DEMO_TENANT_ID}/v2.0"
    allowed = validator(emu, authority=emu.authority("common"), allowed_tenants=[DEMO_TENANT_ID])
    allowed.validate(app_token(emu))
    others = validator(emu, authority=emu.authority("common"), allowed_tenants=[OTHER_TENANT])
    with pytest.raises(TokenValidationError, match="tenant"):
        others.validate(app_token(emu))


def test_organizations_authority(emu: Emulator) -> None:
    claims = validator(emu, authority=emu.authority("organizations")).validate(app_token(emu))
    assert claims["tid"] == DEMO_TENANT_ID  # any organisation's tenant, checked by signature


def test_v1_tokens_of_a_v1_api() -> None:
    config = EmulatorConfig.default()
    api = next(a for a in config.apps if a.client_id == DEMO_API_ID)
    api.access_token_version = 1
    with Emulator(config) as v1_emu:
        token = app_token(v1_emu)
        strict = validator(v1_emu)
        with pytest.raises(TokenValidationError, match="issuer"):
            strict.validate(token)
        claims = validator(v1_emu, accept_v1_issuer=True).validate(token)
        assert claims["iss"] == f"https://sts.windows.net/{DEMO_TENANT_ID}/"
        assert claims["aud"] == DEMO_API_URI
        assert claims["ver"] == "1.0"
        common = validator(v1_emu, authority=v1_emu.authority("common"), accept_v1_issuer=True)
        common.validate(token)


def test_an_id_token_for_the_apis_own_client_id_is_refused(emu: Emulator) -> None:
    api = identitylib.ConfidentialClientApplication(
        DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority(), verify=emu.ca_path or True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = api.acquire_token_by_username_password(*ALICE, GRAPH)
    id_token = result.get("id_token")
    assert id_token, result
    assert result["id_token_claims"]["aud"] == DEMO_API_ID  # same aud and iss as access tokens
    for check in (
        validator(emu),
        validator(emu, accept_tokens_without_permissions=True),
        validator(emu, required_roles=["Data.Read.All"], required_scopes=["access_as_user"]),
    ):
        with pytest.raises(TokenValidationError) as caught:
            check.validate(id_token)
        assert caught.value.error == "invalid_token"
        assert "ID token" in caught.value.description


def test_an_app_token_without_roles_needs_the_acl_opt_in() -> None:
    config = EmulatorConfig.default()
    api = next(a for a in config.apps if a.client_id == DEMO_API_ID)
    api.app_roles = []
    with Emulator(config) as bare:
        token = app_token(bare)
        with pytest.raises(TokenValidationError) as caught:
            validator(bare).validate(token)
        assert caught.value.error == "invalid_token"
        assert "neither scopes (scp) nor app roles (roles)" in caught.value.description
        claims = validator(bare, accept_tokens_without_permissions=True).validate(token)
        assert claims["azp"] == DEMO_DAEMON_ID
        assert "roles" not in claims
        assert "scp" not in claims
