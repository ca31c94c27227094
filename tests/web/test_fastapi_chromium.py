"""A real browser (headless Chromium) signs in to a running FastAPI app, against the emulator.

The app runs with uvicorn on ``localhost``, the emulator on ``127.0.0.1``: two sites, so
the provider's ``form_post`` reaches the app as a cross-site POST without the
``SameSite=Lax`` session cookie, exactly as with a real provider. The app's pages call its
own protected API over HTTP with the user's token (a downstream API call), and a second
API's token needs a new sign-in (the emulator's Conditional Access demands MFA).

No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations.
"""

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest

from tests._servers import require_module

fastapi = require_module("fastapi")
httpx = require_module("httpx")

from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402

from identitylib.emulator import (  # noqa: E402
    DEMO_API2_URI,
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)
from identitylib.web import Caller, User  # noqa: E402
from identitylib.web.fastapi import FastApiAuth, FastApiGuard  # noqa: E402

from .conftest import (  # noqa: E402
    ALICE,
    JWT,
    browser_sign_in,
    page_json,
    serve_asgi,
    starlette_session,
    wait_for,
    whole_visit,
)

API_SCOPE = f"{DEMO_API_URI}/access_as_user"
GRAPH_SCOPE = "https://graph.microsoft.com/User.Read"
API2_SCOPE = f"{DEMO_API2_URI}/read"  # needs the user's consent, asked for on first use


@pytest.fixture(scope="module")
def site(emu: Emulator) -> Iterator[tuple[str, FastApiAuth]]:
    auth = FastApiAuth(
        client_id=DEMO_WEB_ID,
        client_credential=DEMO_WEB_SECRET,
        authority=emu.authority(),
        scopes=[API_SCOPE],
    )
    api = FastApiGuard(authority=emu.authority(), audience=[DEMO_API_ID, DEMO_API_URI])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await auth.aclose()
        await api.aclose()

    app = FastAPI(lifespan=lifespan)
    auth.install(app, secret_key="chromium-test-secret-key")
    api.install(app)

    @app.get("/")
    async def index(request: Request) -> Any:
        user = auth.user(request)
        return {"user": user.username if user else None}

    @app.get("/orders")
    async def orders(
        request: Request,
        user: Annotated[User, Depends(auth.signed_in_user)],
        token: Annotated[dict[str, Any], Depends(auth.token_for([API_SCOPE]))],
    ) -> Any:
        async with httpx.AsyncClient(base_url=str(request.base_url), trust_env=False) as web:
            called = await web.get(
                "/api/me", headers={"Authorization": f"Bearer {token['access_token']}"}
            )
        return {"page": "orders", "user": user.username, "api": called.json()}

    @app.get("/graph")
    async def graph(
        token: Annotated[dict[str, Any], Depends(auth.token_for([GRAPH_SCOPE]))],
    ) -> Any:
        return {"page": "graph", "token": bool(token.get("access_token"))}

    @app.get("/demo-api")
    async def demo_api(
        token: Annotated[dict[str, Any], Depends(auth.token_for([API_SCOPE]))],
    ) -> Any:
        """A downstream API: the emulator's demo API, called with the user's token."""
        async with httpx.AsyncClient(trust_env=False) as web:
            answer = await web.get(
                emu.demo_api_url, headers={"Authorization": f"Bearer {token['access_token']}"}
            )
        return {"status": answer.status_code, "user": answer.json().get("preferred_username")}

    @app.get("/stock")
    async def stock(
        token: Annotated[dict[str, Any], Depends(auth.token_for([API2_SCOPE]))],
    ) -> Any:
        return {"page": "stock", "token": bool(token.get("access_token"))}

    @app.get("/api/me")
    async def me(caller: Annotated[Caller, Depends(api.require(scopes=["access_as_user"]))]) -> Any:
        return {"name": caller.claims.get("preferred_username")}

    @app.get("/signout", response_class=HTMLResponse)
    async def signout_page(request: Request) -> str:
        return (
            '<form method="post" action="/auth/logout">'
            f'<input type="hidden" name="csrf_token" value="{auth.csrf_token(request)}">'
            '<button id="out" type="submit">Sign out</button></form>'
        )

    with serve_asgi(app) as base:
        yield base, auth


def test_sign_in_returns_to_the_page_and_calls_the_api(
    chromium: Any, site: tuple[str, FastApiAuth], emu: Emulator
) -> None:
    base, _ = site
    chromium.delete_all_cookies()
    chromium.get(f"{base}/orders?id=7")
    wait_for(chromium, lambda d: d.current_url.startswith(emu.base_url))
    browser_sign_in(chromium)
    wait_for(chromium, lambda d: d.current_url == f"{base}/orders?id=7")
    assert page_json(chromium) == {"page": "orders", "user": ALICE, "api": {"name": ALICE}}
    cookie = chromium.get_cookie("session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http on loopback
    session = json.loads(starlette_session(cookie["value"]))
    assert session["identitylib.user"]["claims"]["preferred_username"] == ALICE
    assert not JWT.search(json.dumps(session))  # no token in the cookie
    assert "code=" not in chromium.current_url


def test_a_second_api_needs_a_new_sign_in_and_returns_to_its_page(
    chromium: Any, site: tuple[str, FastApiAuth], emu: Emulator
) -> None:
    base, _ = site
    chromium.delete_all_cookies()
    chromium.get(f"{base}/orders")
    browser_sign_in(chromium)
    wait_for(chromium, lambda d: d.current_url == f"{base}/orders")
    emu.faults.mfa_required = True  # Conditional Access: the next token needs MFA
    chromium.get(f"{base}/graph")
    wait_for(chromium, lambda d: d.current_url.startswith(emu.base_url))
    assert "claims=" in chromium.current_url
    browser_sign_in(chromium)
    wait_for(chromium, lambda d: d.current_url == f"{base}/graph")
    assert page_json(chromium) == {"page": "graph", "token": True}


def test_sign_out_clears_the_session_and_reaches_the_provider(
    chromium: Any, site: tuple[str, FastApiAuth], emu: Emulator
) -> None:
    from selenium.webdriver.common.by import By

    base, auth = site
    chromium.delete_all_cookies()
    chromium.get(f"{base}/orders")
    browser_sign_in(chromium)
    wait_for(chromium, lambda d: d.current_url == f"{base}/orders")
    assert list(auth.auth.application.token_cache.search("Account"))
    chromium.get(f"{base}/signout")
    chromium.find_element(By.ID, "out").click()
    wait_for(chromium, lambda d: "/logout" in d.current_url or d.current_url == f"{base}/")
    assert any(path.endswith("/oauth2/v2.0/logout") for _, path in emu.requests)
    chromium.get(f"{base}/")
    assert page_json(chromium) == {"user": None}
    assert list(auth.auth.application.token_cache.search("Account")) == []


def test_the_whole_visit_api_call_consent_and_sign_out(
    chromium: Any, site: tuple[str, FastApiAuth], emu: Emulator
) -> None:
    """Sign in, call a downstream API, consent to a second API on first use, sign out:
    session gone, the user's cache partition gone, the provider's sign-out reached."""
    base, auth = site

    def accounts() -> list[Any]:
        return list(auth.auth.application.token_cache.search("Account"))

    whole_visit(chromium, base, emu, accounts, "/signout")
