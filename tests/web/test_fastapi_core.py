"""identitylib.web.fastapi: the dependencies of a web app and of a protected API, through
httpx's ASGITransport against the emulator.

No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, which
name local dependencies, at run time.
"""

import asyncio
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Optional
from urllib.parse import parse_qs, urlsplit

import pytest

from tests._servers import require_module

fastapi = require_module("fastapi")
httpx = require_module("httpx")

from fastapi import Depends, FastAPI  # noqa: E402

import identitylib  # noqa: E402
from identitylib.emulator import (  # noqa: E402
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    sign_in,
)
from identitylib.web import Caller, User  # noqa: E402
from identitylib.web.fastapi import FastApiAuth, FastApiGuard  # noqa: E402

from .conftest import ALICE, ALICE_PASSWORD  # noqa: E402

API_SCOPE = f"{DEMO_API_URI}/access_as_user"
GRAPH_SCOPE = "https://graph.microsoft.com/User.Read"


class CountingGuard(FastApiGuard):
    """Counts validations, to show a shared requirement is validated once per request."""

    validations = 0

    async def authenticate(self, request: Any, **kwargs: Any) -> Caller:
        self.validations += 1
        return await super().authenticate(request, **kwargs)


def make_app(emu: Emulator) -> tuple[FastAPI, FastApiAuth, CountingGuard]:
    app = FastAPI()
    auth = FastApiAuth(
        app,
        secret_key="test-secret-key-for-cookie-signing",
        client_id=DEMO_WEB_ID,
        client_credential=DEMO_WEB_SECRET,
        authority=emu.authority(),
        scopes=[API_SCOPE],
    )
    api = CountingGuard(
        app,
        authority=emu.authority(),
        audience=[DEMO_API_ID, DEMO_API_URI],
        client_id=DEMO_API_ID,
        client_credential=DEMO_API_SECRET,
    )
    as_user = api.require(scopes=["access_as_user"])

    @app.get("/")
    async def index(user: Annotated[Optional[User], Depends(auth.optional_user)]) -> Any:
        return {"user": user.username if user else None}

    @app.get("/orders")
    async def orders(
        user: Annotated[User, Depends(auth.signed_in_user)],
        token: Annotated[dict[str, Any], Depends(auth.token_for([API_SCOPE]))],
    ) -> Any:
        return {"user": user.username, "has_token": "access_token" in token}

    @app.get("/graph")
    async def graph(
        token: Annotated[dict[str, Any], Depends(auth.token_for([GRAPH_SCOPE]))],
    ) -> Any:
        return {"graph_token": "access_token" in token}

    @app.get("/api/me")
    async def me(caller: Annotated[Caller, Depends(as_user)]) -> Any:
        return {"name": caller.claims.get("preferred_username"), "scopes": caller.scopes}

    @app.get("/api/data")
    async def data(
        caller: Annotated[Caller, Depends(api.require(roles=["Data.Read.All"]))],
    ) -> Any:
        return {"app": caller.is_app, "roles": caller.roles}

    @app.get("/api/downstream")
    async def downstream(
        caller: Annotated[Caller, Depends(as_user)],
        token: Annotated[
            dict[str, Any], Depends(api.on_behalf_of([GRAPH_SCOPE], scopes=["access_as_user"]))
        ],
    ) -> Any:
        return {"name": caller.claims.get("preferred_username"), "obo": "access_token" in token}

    return app, auth, api


@asynccontextmanager
async def site(emu: Emulator) -> AsyncIterator[tuple[Any, FastApiAuth, CountingGuard]]:
    app, auth, api = make_app(emu)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield client, auth, api
    finally:
        await auth.aclose()
        await api.aclose()


def user_token(emu: Emulator) -> str:
    """Alice's token for the demo API, as a client app gets it (ROPC, blocking API)."""
    client = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=identitylib.TokenCache()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = client.acquire_token_by_username_password(ALICE, ALICE_PASSWORD, [API_SCOPE])
    assert "access_token" in result, result
    return str(result["access_token"])


def app_token(emu: Emulator) -> str:
    """The daemon's token for the demo API (client credentials: app roles, no scopes)."""
    daemon = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority()
    )
    result = daemon.acquire_token_for_client([f"{DEMO_API_URI}/.default"])
    assert "access_token" in result, result
    return str(result["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_anonymous_user_is_signed_in_and_gets_the_page(emu: Emulator) -> None:
    async def main() -> None:
        async with site(emu) as (client, _, _):
            first = await client.get("/orders?page=2")
            assert first.status_code == 302
            assert first.headers["location"].startswith(emu.authority())
            answer = await asyncio.to_thread(
                sign_in, first.headers["location"], ALICE, ALICE_PASSWORD
            )
            posted = await client.post("/auth/redirect", data=answer)
            done = await client.get(posted.headers["location"])
            assert done.headers["location"] == "/orders?page=2"
            assert (await client.get("/orders?page=2")).json() == {
                "user": ALICE,
                "has_token": True,
            }
            assert (await client.get("/")).json() == {"user": ALICE}

    asyncio.run(main())


def test_a_token_dependency_sends_the_user_to_satisfy_a_claims_challenge(emu: Emulator) -> None:
    async def main() -> None:
        async with site(emu) as (client, _, _):
            login = await client.get("/auth/login")
            answer = await asyncio.to_thread(
                sign_in, login.headers["location"], ALICE, ALICE_PASSWORD
            )
            posted = await client.post("/auth/redirect", data=answer)
            await client.get(posted.headers["location"])
            emu.faults.mfa_required = True
            challenged = await client.get("/graph")
            assert challenged.status_code == 302
            query = parse_qs(urlsplit(challenged.headers["location"]).query)
            assert "capolids" in query["claims"][0]
            assert GRAPH_SCOPE in query["scope"][0].split()

    asyncio.run(main())


def test_the_guard_gives_the_caller_of_a_valid_token(emu: Emulator) -> None:
    token = user_token(emu)

    async def main() -> None:
        async with site(emu) as (client, _, _):
            answer = await client.get("/api/me", headers=bearer(token))
            assert answer.status_code == 200
            assert answer.json() == {"name": ALICE, "scopes": ["access_as_user"]}

    asyncio.run(main())


def test_an_app_token_passes_on_its_role(emu: Emulator) -> None:
    token = app_token(emu)

    async def main() -> None:
        async with site(emu) as (client, _, _):
            answer = await client.get("/api/data", headers=bearer(token))
            assert answer.json() == {"app": True, "roles": ["Data.Read.All"]}
            refused = await client.get("/api/me", headers=bearer(token))  # no user scope
            assert refused.status_code == 403
            assert refused.json()["error"] == "insufficient_scope"
            assert 'scope="access_as_user"' in refused.headers["www-authenticate"]

    asyncio.run(main())


def test_a_user_token_without_the_role_is_forbidden(emu: Emulator) -> None:
    token = user_token(emu)

    async def main() -> None:
        async with site(emu) as (client, _, _):
            refused = await client.get("/api/data", headers=bearer(token))
            assert refused.status_code == 403
            assert refused.headers["www-authenticate"].startswith(
                'Bearer error="insufficient_scope"'
            )

    asyncio.run(main())


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, "Bearer"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
        ({"Authorization": "Bearer not.a.jwt"}, 'Bearer error="invalid_token"'),
    ],
)
def test_a_request_without_a_valid_token_is_unauthorized(
    emu: Emulator, headers: dict[str, str], challenge: str
) -> None:
    async def main() -> None:
        async with site(emu) as (client, _, _):
            refused = await client.get("/api/me", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith(challenge)
            assert set(refused.json()) == {"error", "error_description"}

    asyncio.run(main())


def test_on_behalf_of_validates_once_and_gets_a_downstream_token(emu: Emulator) -> None:
    token = user_token(emu)

    async def main() -> None:
        async with site(emu) as (client, _, api):
            answer = await client.get("/api/downstream", headers=bearer(token))
            assert answer.json() == {"name": ALICE, "obo": True}
            assert api.validations == 1

    asyncio.run(main())


def test_a_downstream_claims_challenge_is_relayed_as_401(emu: Emulator) -> None:
    token = user_token(emu)

    async def main() -> None:
        async with site(emu) as (client, _, _):
            emu.faults.mfa_required = True  # the downstream API now wants MFA
            refused = await client.get("/api/downstream", headers=bearer(token))
            assert refused.status_code == 401
            assert refused.json()["error"] == "insufficient_claims"
            challenge = refused.headers["www-authenticate"]
            assert challenge.startswith("Bearer ")
            assert "claims=" in challenge

    asyncio.run(main())


def test_guarded_routes_declare_the_bearer_scheme_in_openapi(emu: Emulator) -> None:
    async def main() -> None:
        async with site(emu) as (client, _, _):
            document = (await client.get("/openapi.json")).json()
            assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
            assert document["paths"]["/api/me"]["get"]["security"] == [{"bearer": []}]
            assert "security" not in document["paths"]["/orders"]["get"]

    asyncio.run(main())
