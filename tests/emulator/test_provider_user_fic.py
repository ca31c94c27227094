"""The ``user_fic`` grant of the identity-provider model: the credential's lifetime on a
fake clock, and federated credentials in a configuration file's JSON form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from identitylib.emulator._config import (
    DEMO_AGENT_ID,
    DEMO_AGENT_SECRET,
    DEMO_MI_CLIENT_ID,
    DEMO_MI_OBJECT_ID,
    TOKEN_EXCHANGE_AUDIENCE,
    App,
    EmulatorConfig,
    FederatedCredential,
)
from identitylib.emulator._directory import Directory

from .provider_support import ALICE, ALICE_OID, World, assert_error, body, decode, make_world, token

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
SYSTEM_MI = "a1b2c3d4-0007-4000-8000-0000000000e5"


@pytest.fixture
def world() -> World:
    return make_world()


def credential(world: World, client_id: str = DEMO_MI_CLIENT_ID) -> str:
    reply = world.provider.managed_identity_token(TOKEN_EXCHANGE_AUDIENCE, client_id=client_id)
    return str(body(reply)["access_token"])


def exchange(world: World, fic: str, client_id: str = DEMO_AGENT_ID, **extra: str) -> Any:
    form = {
        "grant_type": "user_fic",
        "client_id": client_id,
        "client_secret": DEMO_AGENT_SECRET,
        "user_federated_identity_credential": fic,
        "username": ALICE,
        "scope": "https://graph.microsoft.com/User.Read openid offline_access",
        "client_info": "1",
    }
    form.update(extra)
    return token(world, form)


def test_the_users_tokens(world: World) -> None:
    data = body(exchange(world, credential(world)))
    claims = decode(world, data["access_token"], GRAPH_APP_ID)
    assert (claims["oid"], claims["azp"], claims["amr"]) == (ALICE_OID, DEMO_AGENT_ID, ["fed"])
    assert {"refresh_token", "id_token", "client_info"} <= set(data)


def test_an_expired_credential_is_refused(world: World) -> None:
    fic = credential(world)
    world.clock.advance(3600)  # the managed identity token's whole lifetime
    assert_error(exchange(world, fic), "invalid_grant", 700024)


def test_a_credential_not_yet_valid_is_refused(world: World) -> None:
    world.clock.advance(3600)
    fic = credential(world)
    world.clock.advance(-3600)
    assert_error(exchange(world, fic), "invalid_grant", 700024)


def test_federated_credentials_from_a_configuration_file(world: World) -> None:
    """An app trusting the system-assigned identity, written as a configuration's JSON."""
    data = EmulatorConfig.default().to_dict()
    agent = next(a for a in data["apps"] if a["client_id"] == DEMO_AGENT_ID)
    assert agent["federated_credentials"][0]["subject"] == DEMO_MI_OBJECT_ID
    assert agent["federated_credentials"][0]["audiences"] == [TOKEN_EXCHANGE_AUDIENCE]
    system_oid = Directory.identity_oid(
        next(i for i in world.config.managed_identities if i.client_id == SYSTEM_MI)
    )
    data["apps"].append(
        {
            "client_id": "a1b2c3d4-0098-4000-8000-0000000000f1",
            "secrets": ["s"],
            "federated_credentials": [
                {"issuer": agent["federated_credentials"][0]["issuer"], "subject": system_oid}
            ],
        }
    )
    config = EmulatorConfig.from_dict(json.loads(json.dumps(data)))
    added = config.apps[-1]
    assert added.federated_credentials == [
        FederatedCredential(agent["federated_credentials"][0]["issuer"], system_oid)
    ]
    other = make_world(config)
    reply = exchange(
        other, credential(other, SYSTEM_MI), client_id=added.client_id, client_secret="s"
    )
    assert "access_token" in body(reply), body(reply)
    # The demo agent does not trust the system-assigned identity.
    assert_error(exchange(other, credential(other, SYSTEM_MI)), "invalid_grant", 700213)


def test_a_bad_federated_credential_entry_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="bad entry in apps"):
        EmulatorConfig.from_dict(
            {"apps": [{"client_id": "x", "federated_credentials": [{"issuer": "i"}]}]}
        )
    assert App("y", federated_credentials=[]).federated_credentials == []
