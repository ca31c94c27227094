"""A Flask web app that signs users in and calls a protected API for them, with
``identitylib.web.flask``: no hand-written sign-in, session or token-cache code.

* ``FlaskAuth`` adds ``/auth/login``, ``/auth/redirect`` (register it as the app's redirect
  URI), ``/auth/logout`` (POST, CSRF-checked) and sends anyone who needs to sign in (or to
  consent to more) through the provider and back to the page they asked for.
* ``/call-api`` gets a token for the signed-in user and calls ``/api/me`` with it.
* ``/api/me`` is that API, protected by ``FlaskApiGuard`` (it could be another app).
* Tokens live on the server, per user: in memory here; ``IDENTITYLIB_REDIS_URL`` puts them
  (and pending sign-ins) in Redis, so several processes serve the same users.

Run it with its own emulator, then open http://localhost:5000 and sign in as
alice@contoso.onmicrosoft.com / alice-password::

    pip install 'identitylib[flask]'
    python examples/web/flask_app.py --emulator

Without ``--emulator`` it reads ``IDENTITYLIB_AUTHORITY`` (default: a running
``identitylib emulator --port 8400``), ``IDENTITYLIB_CLIENT_ID``, ``IDENTITYLIB_SECRET``,
``IDENTITYLIB_API_ID`` and ``FLASK_SECRET_KEY`` (default: random per process).
"""

from __future__ import annotations

import argparse
import html
import os
import secrets
from typing import Any, Optional

import requests
from flask import Flask, url_for

from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)
from identitylib.web.flask import FlaskApiGuard, FlaskAuth

DEFAULT_AUTHORITY = f"http://127.0.0.1:8400/{DEMO_TENANT_ID}"
API_SCOPE = f"{DEMO_API_URI}/access_as_user"


def _stores() -> dict[str, Any]:
    """Redis for tokens and pending sign-ins when IDENTITYLIB_REDIS_URL is set."""
    url = os.environ.get("IDENTITYLIB_REDIS_URL")
    if not url:
        return {}
    import redis

    from identitylib import RedisTokenCache
    from identitylib.web import RedisSignInStore

    return {
        "token_cache": RedisTokenCache(url=url),
        "sign_in_store": RedisSignInStore(redis.Redis.from_url(url)),
    }


def create_app(authority: Optional[str] = None) -> Flask:
    """The web app, for ``authority`` (default: IDENTITYLIB_AUTHORITY or the local emulator)."""
    env = os.environ
    authority = authority or env.get("IDENTITYLIB_AUTHORITY", DEFAULT_AUTHORITY)
    app = Flask(__name__)
    app.secret_key = env.get("FLASK_SECRET_KEY") or secrets.token_hex(32)
    auth = FlaskAuth(
        app,
        client_id=env.get("IDENTITYLIB_CLIENT_ID", DEMO_WEB_ID),
        client_credential=env.get("IDENTITYLIB_SECRET", DEMO_WEB_SECRET),
        authority=authority,
        scopes=[API_SCOPE],
        **_stores(),
    )
    guard = FlaskApiGuard(
        app, authority=authority, audience=env.get("IDENTITYLIB_API_ID", DEMO_API_ID)
    )

    def page(body: str) -> str:
        return f"<!doctype html><title>identitylib Flask example</title><body>{body}</body>"

    @app.get("/")
    def index() -> str:
        user = auth.user
        if user is None:
            return page('<p>Not signed in.</p><p><a href="/auth/login">Sign in</a></p>')
        name = html.escape(user.username or user.name or "?")
        return page(
            f"<p>Signed in as {name}.</p><p><a href='/call-api'>Call the API</a></p>"
            '<form method="post" action="/auth/logout">'
            f'<input type="hidden" name="csrf_token" value="{auth.csrf_token()}">'
            "<button>Sign out</button></form>"
        )

    @app.get("/call-api")
    @auth.login_required
    def call_api() -> Any:
        token = auth.token_for_user([API_SCOPE])  # or a sign-in, and back here
        answer = requests.get(
            url_for("api_me", _external=True),
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=10,
        )
        return {"api_status": answer.status_code, "api_answer": answer.json()}

    @app.get("/api/me")
    @guard.require(scopes=["access_as_user"])
    def api_me() -> Any:
        claims = guard.caller.claims
        return {"preferred_username": claims.get("preferred_username"), "scp": claims.get("scp")}

    return app


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="run an in-process emulator")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    if args.emulator:
        with Emulator() as emu:
            print(f"emulator at {emu.authority()}; sign in as alice@contoso.onmicrosoft.com")
            create_app(emu.authority()).run("localhost", args.port)
        return 0
    create_app().run("localhost", args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
