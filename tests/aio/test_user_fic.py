"""``identitylib.aio``'s user federated identity credential grant against the emulator:
an agent takes its managed identity's token for ``api://AzureADTokenExchange`` and
exchanges it for a user's tokens, which silent calls then serve, as with the blocking API.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

import identitylib
from identitylib import aio
from identitylib.emulator import (
    DEMO_AGENT_ID,
    DEMO_AGENT_SECRET,
    DEMO_MI_CLIENT_ID,
    DEMO_TENANT_ID,
    TOKEN_EXCHANGE_AUDIENCE,
    Emulator,
)
from identitylib.emulator._mi_sources import managed_identity_environment

from ._support import ALICE, run, token_posts

GRAPH = ["https://graph.microsoft.com/User.Read"]
BOB_OID = "0a1b2c3d-0000-4000-8000-000000000b0b"
FORWARDED = '{"access_token": {"xms_ds_nonce": {"value": "n1"}}}'


def agent(emu: Emulator, **kwargs: Any) -> aio.ConfidentialClientApplication:
    return aio.ConfidentialClientApplication(
        DEMO_AGENT_ID, DEMO_AGENT_SECRET, authority=emu.authority(), **kwargs
    )


async def federated_credential() -> str:
    """The agent's credential: its managed identity's token for token exchange."""
    identity = identitylib.UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID)
    async with aio.ManagedIdentityClient(identity) as client:
        result = await client.acquire_token_for_client(resource=TOKEN_EXCHANGE_AUDIENCE)
    assert "access_token" in result, result
    return str(result["access_token"])


def test_user_fic_then_silent(emu: Emulator, mi_env: pytest.MonkeyPatch) -> None:
    for name, value in managed_identity_environment(emu, "imds").items():
        mi_env.setenv(name, value)

    async def main() -> None:
        fic = await federated_credential()
        async with agent(emu) as app:
            first = await app.acquire_token_by_user_federated_identity_credential(
                GRAPH, fic, username=ALICE[0]
            )
            assert first["token_source"] == "identity_provider", first
            assert first["id_token_claims"]["preferred_username"] == ALICE[0]
            assert jwt.decode(first["access_token"], options={"verify_signature": False})[
                "amr"
            ] == ["fed"]
            (account,) = await app.get_accounts(username=ALICE[0])
            assert account["account_source"] == "user_fic"
            emu.reset_requests()
            cached = await app.acquire_token_silent(GRAPH, account)
            assert cached is not None
            assert (cached["token_source"], cached["access_token"]) == (
                "cache",
                first["access_token"],
            )
            assert token_posts(emu) == 0
            bob = await app.acquire_token_by_user_federated_identity_credential(
                GRAPH, fic, user_object_id=BOB_OID
            )
            assert (
                jwt.decode(bob["access_token"], options={"verify_signature": False})["oid"]
                == BOB_OID
            )
            assert token_posts(emu) == 1

    run(main())


def test_forwarded_client_claims_isolate_the_cached_token(
    emu: Emulator, mi_env: pytest.MonkeyPatch
) -> None:
    for name, value in managed_identity_environment(emu, "imds").items():
        mi_env.setenv(name, value)

    async def main() -> None:
        fic = await federated_credential()
        async with agent(emu) as app:
            first = await app.acquire_token_by_user_federated_identity_credential(
                GRAPH, fic, username=ALICE[0], forwarded_client_claims=FORWARDED
            )
            assert "access_token" in first, first
            (account,) = await app.get_accounts(username=ALICE[0])
            same = await app.acquire_token_silent(GRAPH, account, forwarded_client_claims=FORWARDED)
            assert same is not None
            assert same["access_token"] == first["access_token"]
            other = await app.acquire_token_silent(GRAPH, account)
            assert other is not None
            assert other["token_source"] == "identity_provider"

    run(main())


@pytest.mark.parametrize(
    ("scopes", "assertion", "identifiers"),
    [
        (GRAPH, None, {"username": ALICE[0]}),
        (GRAPH, " ", {"username": ALICE[0]}),
        (GRAPH, "a.b.c", {}),
        (GRAPH, "a.b.c", {"username": ALICE[0], "user_object_id": BOB_OID}),
        (["profile", *GRAPH], "a.b.c", {"username": ALICE[0]}),
        (GRAPH, "a.b.c", {"username": ALICE[0], "forwarded_client_claims": "{bad"}),
    ],
    ids=["no-assertion", "blank-assertion", "no-user", "both-users", "reserved", "bad-claims"],
)
def test_bad_input_raises_before_any_request(
    emu: Emulator, scopes: list[str], assertion: Any, identifiers: dict[str, Any]
) -> None:
    async def main() -> None:
        async with agent(emu) as app:
            with pytest.raises(ValueError):
                await app.acquire_token_by_user_federated_identity_credential(
                    scopes, assertion, **identifiers
                )

    run(main())
    assert emu.requests == []


def test_tenant_of_the_routing_hint_is_the_discovered_one(emu: Emulator) -> None:
    """``Oid:<oid>@<tenant>``: the tenant GUID of the token endpoint, as msal sends it,
    also when the authority names the tenant by its domain."""
    sent: list[dict[str, str]] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "POST":
            sent.append(dict(request.headers))

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
            app = aio.ConfidentialClientApplication(
                DEMO_AGENT_ID,
                DEMO_AGENT_SECRET,
                authority=emu.authority("contoso.onmicrosoft.com"),
                http_client=client,
            )
            result: dict[str, Any] = await app.acquire_token_by_user_federated_identity_credential(
                GRAPH, "not-a-jwt", user_object_id=BOB_OID
            )
            return result

    result = run(main())
    assert result["error"] == "invalid_grant"
    assert sent[-1]["x-anchormailbox"] == f"Oid:{BOB_OID}@{DEMO_TENANT_ID}"
