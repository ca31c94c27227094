"""The emulator's protected demo API and its claims challenge (authentication context)."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest
import requests

from identitylib import parse_claims_challenge
from identitylib.emulator import (
    AUTH_CONTEXT,
    DEMO_API_CLAIMS,
    DEMO_API_ID,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_ID,
    Emulator,
    EmulatorConfig,
)

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
API_SCOPE = "api://demo-api/access_as_user openid offline_access"


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _tokens(emu: Emulator, claims: Optional[str] = None, **form: str) -> dict[str, Any]:
    data = {
        "grant_type": "password",
        "client_id": DEMO_CLI_ID,
        "username": ALICE,
        "password": ALICE_PASSWORD,
        "scope": API_SCOPE,
        **form,
    }
    if claims is not None:
        data["claims"] = claims
    with _session() as session:
        answer = session.post(f"{emu.authority()}/oauth2/v2.0/token", data=data, timeout=10)
    body: dict[str, Any] = answer.json()
    return body


def _call(emu: Emulator, token: Optional[str]) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with _session() as session:
        return session.get(emu.demo_api_url, headers=headers, timeout=10)


def test_a_valid_token_gets_the_callers_claims(emulator: Emulator) -> None:
    answer = _call(emulator, _tokens(emulator)["access_token"])
    assert answer.status_code == 200
    claims = answer.json()
    assert claims["aud"] == DEMO_API_ID
    assert claims["scp"] == "access_as_user"
    assert claims["preferred_username"] == ALICE
    assert "acrs" not in claims


def test_an_app_token_with_the_role_is_accepted(emulator: Emulator) -> None:
    with _session() as session:
        data = {
            "grant_type": "client_credentials",
            "client_id": DEMO_DAEMON_ID,
            "client_secret": DEMO_DAEMON_SECRET,
            "scope": "api://demo-api/.default",
        }
        token = session.post(f"{emulator.authority()}/oauth2/v2.0/token", data=data, timeout=10)
    answer = _call(emulator, token.json()["access_token"])
    assert answer.status_code == 200
    assert answer.json()["roles"] == ["Data.Read.All"]


def test_no_token_is_401_without_an_error(emulator: Emulator) -> None:
    answer = _call(emulator, None)
    assert answer.status_code == 401
    header = answer.headers["WWW-Authenticate"]
    assert header.startswith('Bearer realm="", authorization_uri="')
    assert "error=" not in header


@pytest.mark.parametrize("kind", ["id_token", "other_api", "bad_signature", "garbage"])
def test_wrong_tokens_are_401_invalid_token(emulator: Emulator, kind: str) -> None:
    tokens = _tokens(emulator)
    wrong = {
        "id_token": tokens["id_token"],  # its audience is the client
        "other_api": _tokens(emulator, scope="User.Read openid")["access_token"],
        "bad_signature": tokens["access_token"][:-4] + "AAAA",
        "garbage": "not-a-jwt",
    }[kind]
    answer = _call(emulator, wrong)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert answer.json()["error"] == "invalid_token"


def test_an_expired_token_is_refused(emulator: Emulator) -> None:
    emulator.faults.access_token_lifetime = -600
    token = _tokens(emulator)["access_token"]
    emulator.faults.access_token_lifetime = None
    answer = _call(emulator, token)
    assert answer.status_code == 401
    assert "expired" in answer.json()["error_description"]


def test_claims_challenge_until_the_token_carries_the_auth_context(emulator: Emulator) -> None:
    emulator.faults.api_claims_challenge = True
    plain = _tokens(emulator)
    answer = _call(emulator, plain["access_token"])
    assert answer.status_code == 401
    header = answer.headers["WWW-Authenticate"]
    assert 'error="insufficient_claims"' in header
    assert f'authorization_uri="{emulator.authority(DEMO_TENANT_ID)}/oauth2/v2.0/authorize"' in (
        header
    )
    claims = parse_claims_challenge(header)
    assert claims == DEMO_API_CLAIMS
    assert json.loads(str(claims)) == {
        "access_token": {"acrs": {"essential": True, "value": AUTH_CONTEXT}}
    }
    stepped_up = _tokens(emulator, claims=claims)
    assert _call(emulator, stepped_up["access_token"]).status_code == 200
    emulator.faults.reset()
    assert emulator.faults.api_claims_challenge is False
    assert _call(emulator, plain["access_token"]).status_code == 200


def test_without_the_policy_a_refresh_asking_for_a_context_is_no_error(
    emulator: Emulator,
) -> None:
    refresh_token = _tokens(emulator)["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    answer = _tokens(emulator, claims=DEMO_API_CLAIMS, **form)
    assert answer["token_type"] == "Bearer"
    with_api = _call(emulator, answer["access_token"])
    assert "acrs" not in with_api.json(), "asking is not satisfying"


def test_a_refresh_asking_for_an_unsatisfied_context_needs_interaction(
    emulator: Emulator,
) -> None:
    emulator.faults.api_claims_challenge = True
    refresh_token = _tokens(emulator)["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    answer = _tokens(emulator, claims=DEMO_API_CLAIMS, **form)
    assert answer["error"] == "interaction_required"
    assert answer["error_codes"] == [50076]
    assert json.loads(answer["claims"]) == json.loads(DEMO_API_CLAIMS)
    stepped_up = _tokens(emulator, claims=DEMO_API_CLAIMS)
    form["refresh_token"] = stepped_up["refresh_token"]
    again = _tokens(emulator, claims=DEMO_API_CLAIMS, **form)
    assert again["token_type"] == "Bearer"
    assert _call(emulator, again["access_token"]).status_code == 200


def test_only_get_is_served(emulator: Emulator) -> None:
    with _session() as session:
        assert session.post(emulator.demo_api_url, timeout=10).status_code == 405


def test_no_demo_api_in_the_configuration_is_404() -> None:
    config = EmulatorConfig.default()
    config.apps = [a for a in config.apps if a.client_id != DEMO_API_ID]
    with Emulator(config) as emu:
        assert _call(emu, "x").status_code == 404
