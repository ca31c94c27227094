"""The web app of ``identitylib demo``: ``identitylib.web`` on the standard library alone.

A WSGI app served by ``wsgiref`` on 127.0.0.1 (the demo needs no web framework), with a
server-side session per browser cookie, the routes every identitylib.web adapter has
(``/auth/redirect`` for the provider's form_post and the same-site GET after it) and one
page, ``/orders``, that needs a signed-in user and a token for the demo API. A
``requests.Session`` plays the browser and the emulator's scripted user signs in.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode
from wsgiref.simple_server import WSGIRequestHandler, make_server

import requests

from identitylib.emulator import sign_in
from identitylib.web import SignInFailed, SignInRequired, WebAppAuth

StartResponse = Callable[..., Any]
COOKIE = "demo_session"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class DemoWebApp:
    """A WSGI app signing users in with ``auth`` and serving ``/orders`` with ``scopes``."""

    def __init__(self, auth: WebAppAuth, scopes: list[str]) -> None:
        self.auth = auth
        self.scopes = scopes
        self.sessions: dict[str, dict[str, Any]] = {}
        self.base = ""

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        sid = cookie[COOKIE].value if COOKIE in cookie else ""
        if sid not in self.sessions:
            sid = secrets.token_urlsafe(24)
            self.sessions[sid] = {}
        session = self.sessions[sid]
        path = environ.get("PATH_INFO", "/")
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        headers = [("Set-Cookie", f"{COOKIE}={sid}; HttpOnly; SameSite=Lax; Path=/")]
        try:
            status, extra, body = self._route(environ, path, query, session)
        except SignInRequired as needed:
            url = self.auth.sign_in_url(
                session,
                redirect_uri=f"{self.base}/auth/redirect",
                return_to=path,
                scopes=needed.scopes or None,
                claims_challenge=needed.claims_challenge,
            )
            status, extra, body = "302 Found", [("Location", url)], b""
        except SignInFailed as failed:
            status, extra, body = "400 Bad Request", [], failed.error.encode()
        start(status, headers + extra)
        return [body]

    def _route(
        self, environ: dict[str, Any], path: str, query: dict[str, str], session: dict[str, Any]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        if path == "/auth/redirect" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = dict(parse_qsl(environ["wsgi.input"].read(length).decode()))
            state = self.auth.keep_form_post(form)
            location = "/auth/redirect?" + urlencode({"state": state})
            return "303 See Other", [("Location", location)], b""
        if path == "/auth/redirect":
            done = self.auth.complete_sign_in(session, state=query.get("state"))
            return "303 See Other", [("Location", done.return_to)], b""
        if path == "/orders":
            if self.auth.user(session) is None:
                raise SignInRequired(reason="not signed in")
            token = self.auth.token_for_user(session, self.scopes)
            page = {"token_source": token.get("token_source"), "access_token": "(on the server)"}
            body = json.dumps(page)
            return "200 OK", [("Content-Type", "application/json")], body.encode()
        return "404 Not Found", [], b""


@contextmanager
def served(app: DemoWebApp) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL (``localhost``)."""
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    app.base = f"http://localhost:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield app.base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def browse_orders(
    base: str, browser: requests.Session, user: str, password: str, verify: Any
) -> dict[str, Any]:
    """Open ``/orders`` as a browser would: through sign-in when needed, by the scripted user."""
    answer = browser.get(f"{base}/orders", allow_redirects=False, timeout=10)
    signed_in = answer.status_code == 302
    if signed_in:
        fields = sign_in(answer.headers["Location"], user, password, verify=verify)
        answer = browser.post(f"{base}/auth/redirect", data=fields, timeout=20)
    if answer.status_code != 200:
        return {"error": f"HTTP {answer.status_code}", "error_description": answer.text[:200]}
    result: dict[str, Any] = answer.json()
    if signed_in:  # the page's token came with the sign-in, from the identity provider
        result["token_source"] = "identity_provider"
    return result
