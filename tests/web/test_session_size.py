"""The session stays small enough for a cookie whatever the ID token carries.

Flask's and Starlette's sessions are cookies, and browsers drop a cookie over 4096 bytes:
the user would never appear signed in. Entra puts up to 200 group ids in an ID token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from identitylib.web import _session
from tests._servers import require_module

TENANT = "7c1d6a5e-4b2f-4e8a-9d3c-2f1e0b9a8c7d"
OID = "0a1b2c3d-0000-4000-8000-00000000a11c"
ACCOUNT = {
    "home_account_id": f"{OID}.{TENANT}",
    "environment": "login.microsoftonline.com",
    "realm": TENANT,
    "local_account_id": OID,
    "username": "alice@contoso.com",
    "authority_type": "MSSTS",
}
CLAIMS: dict[str, Any] = {
    "name": "Alice Example",
    "preferred_username": "alice@contoso.com",
    "oid": OID,
    "tid": TENANT,
    "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
    "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
    "roles": ["Orders.Read"],
    "groups": [f"0a1b2c3d-0000-4000-8000-{i:012d}" for i in range(150)],
}


def test_the_user_entry_is_bounded_and_keeps_who_the_user_is() -> None:
    session: dict[str, Any] = {}
    user = _session.remember_user(session, ACCOUNT, CLAIMS)
    assert len(json.dumps(session[_session.USER_KEY])) <= _session.MAX_USER_BYTES
    assert "groups" not in user.claims  # the largest claim goes first
    assert user.claims["oid"] == OID
    assert user.claims["roles"] == ["Orders.Read"]
    assert user.username == "alice@contoso.com"
    assert user.home_account_id == f"{OID}.{TENANT}"


def test_a_small_user_entry_is_kept_whole() -> None:
    session: dict[str, Any] = {}
    claims = {**CLAIMS, "groups": CLAIMS["groups"][:3]}
    user = _session.remember_user(session, ACCOUNT, claims)
    assert user.claims == claims


def test_a_starlette_session_cookie_stays_under_4096_bytes() -> None:
    require_module("starlette")
    httpx = require_module("httpx")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from identitylib.web.starlette import SecureSessionMiddleware

    async def signed_in(request: Request) -> Response:
        session = request.session
        _session.remember_user(session, ACCOUNT, CLAIMS)
        _session.csrf_token(session)
        for n in range(_session.MAX_PENDING):
            _session.add_pending(session, f"state-{n:016d}")
        return Response("ok")

    app = Starlette(routes=[Route("/", signed_in)])
    app.add_middleware(SecureSessionMiddleware, secret_key="x" * 32)

    async def main() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://app.example") as c:
            return str((await c.get("/")).headers["set-cookie"])

    assert len(asyncio.run(main())) < 4096
