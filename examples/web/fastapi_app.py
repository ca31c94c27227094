"""A FastAPI web app that signs users in and calls a protected API for them (identitylib.web).

* ``FastApiAuth`` adds the sign-in routes (``/auth/login``, ``/auth/redirect``,
  ``/auth/logout``), signed session cookies (HttpOnly, SameSite=Lax, Secure outside
  loopback) and the handler that sends a user through sign-in and back.
* ``/call-api`` depends on a token for the API (``auth.token_for``): an anonymous user signs
  in first, then lands back on the page; the page calls the API with the token.
* ``/api/me`` is that API, in the same app for a self-contained demo, guarded by
  ``FastApiGuard``: no valid token with the scope ``access_as_user``, no entry (401/403).
* Sign-out is a POST with a CSRF token; it forgets the user's tokens and sends the browser
  to the provider's sign-out page.

Run it with a self-contained emulator, then open the printed URL and sign in as
alice@contoso.onmicrosoft.com / alice-password::

    pip install 'identitylib[fastapi]' uvicorn
    python examples/web/fastapi_app.py --emulator

Without ``--emulator`` it talks to a running ``identitylib emulator --port 8400`` (the
default) or, through the environment, to Entra ID (register the redirect URI
``http://localhost:8000/auth/redirect``):

    IDENTITYLIB_AUTHORITY       default http://127.0.0.1:8400/<emulator demo tenant>
    IDENTITYLIB_CLIENT_ID       the web app's client id
    IDENTITYLIB_SECRET          its client secret
    IDENTITYLIB_SCOPE           the API scope, default api://demo-api/access_as_user
    IDENTITYLIB_API_AUDIENCE    the API's audiences (space-separated), default the demo API
    IDENTITYLIB_SESSION_SECRET  signs the session cookie (default: random per process)
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations.

import argparse
import html
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Optional

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)
from identitylib.web import Caller, User
from identitylib.web.fastapi import FastApiAuth, FastApiGuard

DEFAULT_AUTHORITY = f"http://127.0.0.1:8400/{DEMO_TENANT_ID}"


@dataclass
class Settings:
    authority: str = DEFAULT_AUTHORITY
    client_id: str = DEMO_WEB_ID
    client_secret: str = DEMO_WEB_SECRET
    scope: str = f"{DEMO_API_URI}/access_as_user"
    api_audience: list[str] = field(default_factory=lambda: [DEMO_API_ID, DEMO_API_URI])
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def from_env(cls, authority: Optional[str] = None) -> "Settings":
        env = os.environ
        defaults = cls()
        return cls(
            authority=authority or env.get("IDENTITYLIB_AUTHORITY", DEFAULT_AUTHORITY),
            client_id=env.get("IDENTITYLIB_CLIENT_ID", DEMO_WEB_ID),
            client_secret=env.get("IDENTITYLIB_SECRET", DEMO_WEB_SECRET),
            scope=env.get("IDENTITYLIB_SCOPE", defaults.scope),
            api_audience=env.get("IDENTITYLIB_API_AUDIENCE", "").split() or defaults.api_audience,
            session_secret=env.get("IDENTITYLIB_SESSION_SECRET") or defaults.session_secret,
        )


def _page(body: str) -> str:
    return f"<!doctype html><title>identitylib FastAPI example</title><body>{body}</body>"


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application for ``settings``."""
    auth = FastApiAuth(
        client_id=settings.client_id,
        client_credential=settings.client_secret,
        authority=settings.authority,
        scopes=[settings.scope],
    )
    api = FastApiGuard(authority=settings.authority, audience=settings.api_audience)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await auth.aclose()  # the HTTP clients of identitylib.aio
        await api.aclose()

    app = FastAPI(title="identitylib FastAPI web app", lifespan=lifespan)
    auth.install(app, secret_key=settings.session_secret)
    api.install(app)

    @app.get("/", response_class=HTMLResponse)
    async def index(
        request: Request, user: Annotated[Optional[User], Depends(auth.optional_user)]
    ) -> str:
        if user is None:
            return _page('<p>Not signed in.</p><p><a href="/auth/login">Sign in</a></p>')
        name = html.escape(user.username or user.name or "?")
        csrf = html.escape(auth.csrf_token(request))
        return _page(
            f"<p>Signed in as {name}.</p>"
            '<p><a href="/call-api">Call the API</a></p>'
            '<form method="post" action="/auth/logout">'
            f'<input type="hidden" name="csrf_token" value="{csrf}">'
            '<button type="submit">Sign out</button></form>'
        )

    @app.get("/call-api")
    async def call_api(
        request: Request,
        token: Annotated[dict[str, Any], Depends(auth.token_for([settings.scope]))],
    ) -> Any:
        url = str(request.url_for("api_me"))
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            answer = await client.get(url, headers=headers)
        return {"api_status": answer.status_code, "api_answer": answer.json()}

    @app.get("/api/me", name="api_me")
    async def api_me(
        caller: Annotated[Caller, Depends(api.require(scopes=["access_as_user"]))],
    ) -> Any:
        return {"preferred_username": caller.claims.get("preferred_username"), "scp": caller.scopes}

    return app


def serve(app: FastAPI, port: int, on_ready: Callable[[str], None] = print) -> None:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` (0: a free port); ``on_ready`` gets
    the app's URL once it listens (connections wait in the backlog until uvicorn runs)."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    on_ready(f"http://localhost:{listener.getsockname()[1]}")
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="run an in-process emulator")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    def ready(url: str) -> None:
        print(f"open {url} (sign in as alice@contoso.onmicrosoft.com / alice-password)")
        sys.stdout.flush()

    if args.emulator:
        with Emulator() as emu:
            print(f"emulator at {emu.authority()}")
            serve(create_app(Settings.from_env(emu.authority())), args.port, ready)
        return 0
    serve(create_app(Settings.from_env()), args.port, ready)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
