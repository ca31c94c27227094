"""A Flask web app that signs users in (auth code flow) and calls an API for them.

* ``/login`` starts the authorization code flow (PKCE, ``state``, ``nonce``) and sends
  the browser to the identity provider; ``/getAToken`` completes it.
* Each browser session has its own token cache (``SerializableTokenCache``), kept on the
  server and keyed by a random id in Flask's signed session cookie. This example keeps
  them in a dict; a real deployment uses Redis (``identitylib.RedisTokenCache``) or a
  database, so that every worker sees them.
* ``/call-api`` calls the API with the user's token, silently from the session cache
  (the ``requests`` adapter ``BearerAuth`` attaches it), and shows the answer.
* ``/api/me`` is that API, in the same app for a self-contained demo: it validates the
  bearer token with ``identitylib.validation``. Set ``IDENTITYLIB_API_URL`` to call
  another one, e.g. ``examples/web_api_obo.py``'s ``/me``.

Run it with a self-contained emulator, then open http://localhost:5000 and sign in as
alice@contoso.onmicrosoft.com / alice-password::

    pip install flask
    python examples/flask_web_app.py --emulator

Without ``--emulator`` it talks to a running ``identitylib emulator --port 8400`` (the
default) or, through the environment, to Entra ID:

    IDENTITYLIB_AUTHORITY     default http://127.0.0.1:8400/<emulator demo tenant>
    IDENTITYLIB_CLIENT_ID     the web app (redirect URI http://localhost:5000/getAToken)
    IDENTITYLIB_SECRET        its client secret
    IDENTITYLIB_SCOPE         the API scope, default api://demo-api/access_as_user
    IDENTITYLIB_API_URL       the API to call, default this app's /api/me
    FLASK_SECRET_KEY          signs the session cookie (default: random per process)
"""

from __future__ import annotations

import argparse
import html
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Optional

import requests
from flask import Flask, redirect, request, session, url_for

import identitylib as msal
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)
from identitylib.integrations.requests_auth import BearerAuth
from identitylib.validation import AccessTokenValidator, TokenValidationError

DEFAULT_AUTHORITY = f"http://127.0.0.1:8400/{DEMO_TENANT_ID}"


@dataclass
class Settings:
    authority: str = DEFAULT_AUTHORITY
    client_id: str = DEMO_WEB_ID
    client_secret: str = DEMO_WEB_SECRET
    scope: str = f"{DEMO_API_URI}/access_as_user"
    api_url: Optional[str] = None  # None: this app's own /api/me
    api_audience: list[str] = field(default_factory=lambda: [DEMO_API_ID, DEMO_API_URI])

    @classmethod
    def from_env(cls, authority: Optional[str] = None) -> Settings:
        env = os.environ
        return cls(
            authority=authority or env.get("IDENTITYLIB_AUTHORITY", DEFAULT_AUTHORITY),
            client_id=env.get("IDENTITYLIB_CLIENT_ID", DEMO_WEB_ID),
            client_secret=env.get("IDENTITYLIB_SECRET", DEMO_WEB_SECRET),
            scope=env.get("IDENTITYLIB_SCOPE", f"{DEMO_API_URI}/access_as_user"),
            api_url=env.get("IDENTITYLIB_API_URL") or None,
        )


class SessionCaches:
    """One serialized token cache per browser session, on the server side."""

    def __init__(self) -> None:
        self._caches: dict[str, str] = {}
        self._lock = threading.Lock()

    @contextmanager
    def for_session(self) -> Iterator[msal.SerializableTokenCache]:
        """The current session's cache, saved back when it changed."""
        session_id = session.setdefault("sid", secrets.token_urlsafe(16))
        cache = msal.SerializableTokenCache()
        with self._lock:
            saved = self._caches.get(session_id)
        if saved:
            cache.deserialize(saved)
        yield cache
        if cache.has_state_changed:
            with self._lock:
                self._caches[session_id] = cache.serialize()

    def forget(self) -> None:
        with self._lock:
            self._caches.pop(session.get("sid", ""), None)


def _page(body: str) -> str:
    return f"<!doctype html><title>identitylib Flask example</title><body>{body}</body>"


def create_app(settings: Settings) -> Flask:
    """The Flask application for ``settings``."""
    app = Flask(__name__)
    app.secret_key = os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(32)
    caches = SessionCaches()
    scopes = [settings.scope]
    validator = AccessTokenValidator(
        settings.authority, audience=settings.api_audience, required_scopes=["access_as_user"]
    )

    def client(cache: msal.SerializableTokenCache) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            settings.client_id,
            client_credential=settings.client_secret,
            authority=settings.authority,
            token_cache=cache,
        )

    @app.get("/")
    def index() -> str:
        user = session.get("user")
        if not user:
            return _page('<p>Not signed in.</p><p><a href="/login">Sign in</a></p>')
        name = html.escape(user.get("preferred_username") or user.get("name") or "?")
        return _page(
            f"<p>Signed in as {name}.</p>"
            '<p><a href="/call-api">Call the API</a> | <a href="/logout">Sign out</a></p>'
        )

    @app.get("/login")
    def login() -> Any:
        with caches.for_session() as cache:
            flow = client(cache).initiate_auth_code_flow(
                scopes, redirect_uri=url_for("authorized", _external=True)
            )
        session["flow"] = flow
        return redirect(flow["auth_uri"])

    @app.route("/getAToken", methods=["GET", "POST"])
    def authorized() -> Any:
        answer = request.form.to_dict() if request.method == "POST" else request.args.to_dict()
        with caches.for_session() as cache:
            result = client(cache).acquire_token_by_auth_code_flow(session.pop("flow", {}), answer)
        if "error" in result:
            message = html.escape(f"{result['error']}: {result.get('error_description', '')}")
            return _page(f"<p>Sign-in failed: {message}</p>"), 400
        session["user"] = result.get("id_token_claims")
        return redirect(url_for("index"))

    @app.get("/call-api")
    def call_api() -> Any:
        with caches.for_session() as cache:
            app_client = client(cache)
            accounts = app_client.get_accounts()
            if not accounts:
                return redirect(url_for("login"))
            auth = BearerAuth(app_client, scopes, account=accounts[0])
            url = settings.api_url or url_for("api_me", _external=True)
            try:
                answer = requests.get(url, auth=auth, timeout=10)
            except msal.MsalError:  # no token without a new sign-in
                return redirect(url_for("login"))
        return {"api_status": answer.status_code, "api_answer": answer.json()}

    @app.get("/api/me")
    def api_me() -> Any:
        try:
            claims = validator.validate_bearer_header(request.headers.get("Authorization"))
        except TokenValidationError as rejected:
            body = {"error": rejected.error, "error_description": rejected.description}
            return body, rejected.status_code, {"WWW-Authenticate": rejected.www_authenticate}
        return {"preferred_username": claims.get("preferred_username"), "scp": claims.get("scp")}

    @app.get("/logout")
    def logout() -> Any:
        caches.forget()
        session.clear()
        return redirect(url_for("index"))

    return app


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="run an in-process emulator")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    if args.emulator:
        with Emulator() as emu:
            print(f"emulator at {emu.authority()}; sign in as alice@contoso.onmicrosoft.com")
            create_app(Settings.from_env(emu.authority())).run("localhost", args.port)
        return 0
    create_app(Settings.from_env()).run("localhost", args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
