"""identitylib.web.starlette through httpx's ASGITransport against the emulator (no browser).

The same checks as test_flask_core.py, on the asyncio stack: one event loop per test
(``asyncio.run``), the app's httpx clients closed at its end.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest

from tests._servers import require_module

require_module("starlette")
httpx = require_module("httpx")

from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.middleware.sessions import SessionMiddleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from identitylib.emulator import (  # noqa: E402
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_TENANT_DOMAIN,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    sign_in,
)
from identitylib.web import SignInRequired  # noqa: E402
from identitylib.web.starlette import (  # noqa: E402
    MAX_FORM_BYTES,
    SecureSessionMiddleware,
    StarletteApiGuard,
    StarletteAuth,
)
from tests._blocking import BlockingCalls  # noqa: E402
from tests.aio._support import user_assertion  # noqa: E402

from .conftest import ALICE, ALICE_PASSWORD, JWT, starlette_session  # noqa: E402

API_SCOPE = f"{DEMO_API_URI}/access_as_user"
GRAPH_SCOPE = "https://graph.microsoft.com/User.Read"
SECRET_KEY = "test-secret-key-for-cookie-signing"
T = TypeVar("T")


def make_app(emu: Emulator) -> tuple[Starlette, StarletteAuth]:
    auth = StarletteAuth(
        client_id=DEMO_WEB_ID,
        client_credential=DEMO_WEB_SECRET,
        authority=emu.authority(),
        scopes=[API_SCOPE],
    )

    async def index(request: Request) -> Response:
        user = auth.user(request)
        return JSONResponse(
            {"user": user.username if user else None, "csrf": auth.csrf_token(request)}
        )

    @auth.login_required
    async def orders(request: Request) -> Response:
        token = await auth.token_for_user(request, [API_SCOPE])
        return JSONResponse({"has_token": "access_token" in token})

    async def graph(request: Request) -> Response:
        token = await auth.token_for_user(request, [GRAPH_SCOPE])
        return JSONResponse({"graph_token": "access_token" in token})

    async def raises(request: Request) -> Response:
        raise SignInRequired([GRAPH_SCOPE])

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/orders", orders),
            Route("/graph", graph),
            Route("/raises", raises, methods=["GET", "POST"]),
        ]
    )
    auth.install(app, secret_key=SECRET_KEY)
    return app, auth


@asynccontextmanager
async def browser(app: Starlette, base: str = "http://localhost") -> AsyncIterator[Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield client


def on_site(emu: Emulator, test: Callable[[Starlette, StarletteAuth], Awaitable[T]]) -> T:
    """Run ``test`` with a fresh app in a fresh event loop; close the app's clients."""

    async def main() -> T:
        app, auth = make_app(emu)
        try:
            return await test(app, auth)
        finally:
            await auth.aclose()

    return asyncio.run(main())


async def provider_answer(location: str) -> dict[str, str]:
    """The scripted user signs in on the emulator's page (a blocking client: a thread)."""
    answer = await asyncio.to_thread(sign_in, location, ALICE, ALICE_PASSWORD)
    assert "code" in answer, answer
    return answer


async def follow_sign_in(client: Any, location: str) -> Any:
    """The provider's page, signed in by the scripted user, answered as form_post."""
    answer = await provider_answer(location)
    posted = await client.post("/auth/redirect", data=answer)
    assert posted.status_code == 303
    assert "set-cookie" not in posted.headers  # the cross-site POST never touches the session
    assert urlsplit(posted.headers["location"]).query == f"state={answer['state']}"
    return await client.get(posted.headers["location"])


def test_sign_in_returns_to_the_page_then_serves_a_token(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as client:
            first = await client.get("/orders?id=3")
            assert first.status_code == 302
            location = first.headers["location"]
            assert location.startswith(emu.authority())
            query = parse_qs(urlsplit(location).query)
            assert query["response_mode"] == ["form_post"]
            assert query["redirect_uri"] == ["http://localhost/auth/redirect"]
            answer = await provider_answer(location)
            posted = await client.post("/auth/redirect", data=answer)
            done = await client.get(posted.headers["location"])
            assert done.status_code == 303
            assert done.headers["location"] == "/orders?id=3"
            assert answer["code"] not in posted.headers["location"]  # no code in a URL
            cookie = done.headers["set-cookie"]
            assert "httponly" in cookie.lower()
            assert "samesite=lax" in cookie.lower()
            session = json.loads(starlette_session(client.cookies["session"]))
            assert session["identitylib.user"]["claims"]["preferred_username"] == ALICE
            assert not JWT.search(json.dumps(session))  # no token in the cookie
            assert answer["code"] not in json.dumps(session)
            assert (await client.get("/orders?id=3")).json() == {"has_token": True}
            assert (await client.get("/")).json()["user"] == ALICE

    on_site(emu, test)


def test_a_response_from_another_session_is_refused(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as attacker, browser(app) as victim:
            location = (await attacker.get("/auth/login")).headers["location"]
            answer = await provider_answer(location)
            posted = await victim.post("/auth/redirect", data=answer)
            done = await victim.get(posted.headers["location"])
            assert done.status_code == 400
            assert (await victim.get("/")).json()["user"] is None

    on_site(emu, test)


def test_sign_out_needs_the_csrf_token_and_reaches_the_provider(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as client:
            await follow_sign_in(client, (await client.get("/auth/login")).headers["location"])
            csrf = (await client.get("/")).json()["csrf"]
            refused = await client.post("/auth/logout", data={"csrf_token": "wrong"})
            assert refused.status_code == 400
            assert (await client.post("/auth/logout")).status_code == 400  # no form at all
            assert (await client.get("/")).json()["user"] == ALICE
            out = await client.post("/auth/logout", data={"csrf_token": csrf})
            assert out.status_code == 303
            assert out.headers["location"].startswith(f"{emu.authority()}/oauth2/v2.0/logout?")
            query = parse_qs(urlsplit(out.headers["location"]).query)
            assert query["post_logout_redirect_uri"] == ["http://localhost/"]
            assert query["client_id"] == [DEMO_WEB_ID]
            assert (await client.get("/")).json()["user"] is None
            assert await auth.auth.application.get_accounts() == []

    on_site(emu, test)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil", "x"])
def test_next_never_leaves_the_app(emu: Emulator, target: str) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as client:
            location = (await client.get("/auth/login", params={"next": target})).headers[
                "location"
            ]
            done = await follow_sign_in(client, location)
            assert done.headers["location"] == "/"

    on_site(emu, test)


def test_sign_in_required_sends_the_user_to_consent(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as client:
            await follow_sign_in(client, (await client.get("/auth/login")).headers["location"])
            again = await client.get("/raises?page=2")
            assert again.status_code == 302
            scope = parse_qs(urlsplit(again.headers["location"]).query)["scope"][0]
            assert GRAPH_SCOPE in scope.split()
            done = await follow_sign_in(client, again.headers["location"])
            assert done.headers["location"] == "/raises?page=2"
            posted = await client.post("/raises")  # not a GET: back to the home page after
            assert (await follow_sign_in(client, posted.headers["location"])).headers[
                "location"
            ] == "/"

    on_site(emu, test)


def test_a_claims_challenge_sends_the_user_through_sign_in_and_back(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as client:
            await follow_sign_in(client, (await client.get("/auth/login")).headers["location"])
            emu.faults.mfa_required = True  # Conditional Access now wants MFA
            challenged = await client.get("/graph")
            assert challenged.status_code == 302
            claims = parse_qs(urlsplit(challenged.headers["location"]).query)["claims"][0]
            assert "capolids" in claims
            done = await follow_sign_in(client, challenged.headers["location"])
            assert done.headers["location"] == "/graph"
            assert (await client.get("/graph")).json() == {"graph_token": True}

    on_site(emu, test)


@pytest.mark.parametrize(
    ("base", "secure"),
    [
        ("http://localhost", False),
        ("http://127.0.0.1:8000", False),
        ("http://[::1]:8000", False),
        ("https://localhost", True),
        ("http://app.example", True),
        ("https://app.example", True),
    ],
)
def test_the_session_cookie_is_secure_outside_plain_http_loopback(
    emu: Emulator, base: str, secure: bool
) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app, base) as client:
            answer = await client.get("/auth/login")
            cookie = answer.headers["set-cookie"].lower()
            assert "httponly" in cookie
            assert "samesite=lax" in cookie
            assert ("; secure" in cookie) is secure

    on_site(emu, test)


def test_an_oversized_or_foreign_form_post_is_refused(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as client:
            big = {"state": "s", "code": "c" * MAX_FORM_BYTES}
            assert (await client.post("/auth/redirect", data=big)).status_code == 400
            as_json = await client.post("/auth/redirect", json={"state": "s", "code": "c"})
            assert as_json.status_code == 400
            no_state = await client.post("/auth/redirect", data={"code": "c"})
            assert no_state.status_code == 400
            assert len(auth.auth.store) == 0  # type: ignore[arg-type]

    on_site(emu, test)


def test_an_unknown_user_flow_is_not_found(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as client:
            assert (await client.get("/auth/flow/edit_profile")).status_code == 404

    on_site(emu, test)


def test_a_plain_session_middleware_is_checked(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        strict = Starlette(
            middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY, same_site="strict")]
        )
        with pytest.raises(ValueError, match="same_site='lax'"):
            auth.install(strict)
        plain = Starlette(middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY)])
        with pytest.warns(UserWarning, match="Secure"):
            auth.install(plain)
        secure = Starlette(
            middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY, https_only=True)]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            auth.install(secure)

    on_site(emu, test)


def test_without_a_session_middleware_the_error_says_what_to_add(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        bare = Starlette()
        auth.install(bare)
        transport = httpx.ASGITransport(app=bare, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            with pytest.raises(RuntimeError, match="session middleware"):
                await c.get("/auth/login")

    on_site(emu, test)


def test_a_user_flow_signs_in_at_its_own_authority_and_returns(emu: Emulator) -> None:
    flow_authority = f"{emu.base_url}/{DEMO_TENANT_DOMAIN}"

    async def main() -> None:
        auth = StarletteAuth(
            client_id=DEMO_WEB_ID,
            client_credential=DEMO_WEB_SECRET,
            authority=emu.authority(),
            user_flows={"edit_profile": flow_authority},
        )
        app = Starlette(routes=[Route("/", lambda request: JSONResponse({}))])
        auth.install(app, secret_key=SECRET_KEY)
        try:
            async with browser(app) as client:
                started = await client.get("/auth/flow/edit_profile", params={"next": "/me"})
                assert started.status_code == 302
                discovered = [path for _, path in emu.requests if "openid-configuration" in path]
                assert discovered[-1].startswith(f"/{DEMO_TENANT_DOMAIN}/")  # the flow's own
                done = await follow_sign_in(client, started.headers["location"])
                assert done.headers["location"] == "/me"
        finally:
            await auth.aclose()

    asyncio.run(main())


def test_forgot_password_starts_the_reset_user_flow(emu: Emulator) -> None:
    async def main() -> None:
        auth = StarletteAuth(
            client_id=DEMO_WEB_ID,
            client_credential=DEMO_WEB_SECRET,
            authority=emu.authority(),
            user_flows={"reset_password": emu.authority()},
        )
        app = Starlette(routes=[Route("/", lambda request: JSONResponse({}))])
        auth.install(app, secret_key=SECRET_KEY)
        try:
            async with browser(app) as client:
                location = (await client.get("/auth/login")).headers["location"]
                state = parse_qs(urlsplit(location).query)["state"][0]
                forgot = {
                    "state": state,
                    "error": "access_denied",
                    "error_description": "AADB2C90118: The user has forgotten their password.",
                }
                kept = await client.post("/auth/redirect", data=forgot)
                again = await client.get(kept.headers["location"])
                assert again.status_code == 302  # off to the reset user flow, not an error
                assert parse_qs(urlsplit(again.headers["location"]).query)["state"][0] != state
                done = await follow_sign_in(client, again.headers["location"])
                assert done.status_code == 303
        finally:
            await auth.aclose()

    asyncio.run(main())


def test_the_starlette_guard_protects_an_endpoint(emu: Emulator) -> None:
    token = user_assertion(emu)

    async def main() -> None:
        guard = StarletteApiGuard(authority=emu.authority(), audience=[DEMO_API_ID, DEMO_API_URI])

        @guard.requires(scopes=["access_as_user"])
        async def me(request: Request) -> Response:
            return JSONResponse({"name": guard.caller(request).claims["preferred_username"]})

        @guard.requires(roles=["Data.Read.All"])
        async def data(request: Request) -> Response:
            return JSONResponse({})

        app = Starlette(routes=[Route("/me", me), Route("/data", data)])
        guard.install(app)
        try:
            async with browser(app) as client:
                good = {"Authorization": f"Bearer {token}"}
                assert (await client.get("/me", headers=good)).json() == {"name": ALICE}
                missing = await client.get("/me")
                assert (missing.status_code, missing.headers["www-authenticate"]) == (
                    401,
                    "Bearer",
                )
                forbidden = await client.get("/data", headers=good)
                assert forbidden.status_code == 403
                assert forbidden.json()["error"] == "insufficient_scope"
        finally:
            await guard.aclose()

    asyncio.run(main())


def test_signing_in_and_calling_an_api_never_blocks_the_event_loop(emu: Emulator) -> None:
    """No blocking call (file, lock, sleep, name lookup, blocking socket) runs on the event
    loop's thread, from the first request to a token from the cache (the scripted user's
    blocking client runs in a thread)."""
    seen: list[str] = []

    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async with browser(app) as client:
            await client.get("/")  # the first request imports what the app needs
            with BlockingCalls() as blocking:
                first = await client.get("/orders")
                await follow_sign_in(client, first.headers["location"])
                for _ in range(5):
                    assert (await client.get("/orders")).json() == {"has_token": True}
                csrf = (await client.get("/")).json()["csrf"]
                assert (await client.post("/auth/logout", data={"csrf_token": csrf})).is_redirect
            seen.extend(blocking.calls)

    on_site(emu, test)
    assert seen == []


def test_the_app_can_be_built_from_the_parts(emu: Emulator) -> None:
    async def test(app: Starlette, auth: StarletteAuth) -> None:
        async def raises(request: Request) -> Response:
            raise SignInRequired([GRAPH_SCOPE])

        built = Starlette(
            routes=[Route("/raises", raises), auth.mount],
            middleware=[Middleware(SecureSessionMiddleware, secret_key=SECRET_KEY)],
            exception_handlers=auth.exception_handlers,
        )
        async with browser(built) as client:
            sent = await client.get("/raises")
            assert sent.status_code == 302
            assert GRAPH_SCOPE in parse_qs(urlsplit(sent.headers["location"]).query)["scope"][0]
            done = await follow_sign_in(client, sent.headers["location"])
            assert done.headers["location"] == "/raises"

    on_site(emu, test)
