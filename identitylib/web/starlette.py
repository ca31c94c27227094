"""``identitylib.web`` for Starlette (and FastAPI, which is built on it): sign-in, sign-out,
tokens for the signed-in user, and protected API routes, on ``identitylib.aio``.

::

    from starlette.applications import Starlette
    from identitylib.web.starlette import StarletteAuth

    auth = StarletteAuth(client_id=..., client_credential=..., authority=...,
                         scopes=["api://my-api/access_as_user"])

    @auth.login_required
    async def orders(request):
        token = await auth.token_for_user(request, ["api://my-api/access_as_user"])
        ...

    app = Starlette(routes=[Route("/orders", orders)])
    auth.install(app, secret_key=...)   # sessions, the /auth routes, the sign-in handler

Routes (under ``url_prefix``, default ``/auth``, named ``identitylib:<name>``): ``GET
login?next=/path``, ``GET|POST redirect`` (the redirect URI to register, e.g.
``https://app.example/auth/redirect``), ``POST logout`` (a form with ``csrf_token``:
:meth:`StarletteAuth.csrf_token`), and ``GET flow/{name}`` for B2C user flows (edit
profile, password reset). A :class:`~identitylib.web.SignInRequired` raised by any
endpoint or dependency (``token_for_user`` raises it when consent or a new sign-in is
needed) sends the user through sign-in with the scopes or claims it names and back to the
same page.

Sessions are Starlette's signed cookies through :class:`SecureSessionMiddleware`:
``HttpOnly``, ``SameSite=Lax``, and ``Secure`` unless the request came to a loopback host
over plain http. The session holds no token, code or secret
(``pip install 'identitylib[starlette]'``; see ``docs/web/fastapi.md``).
"""

from __future__ import annotations

import functools
import html
import warnings
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Callable, Optional, Union
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from identitylib.validation import TokenValidationError

from ._api import AsyncProtectedApi, Caller, ClaimsChallenge
from ._cookies import cookie_must_be_secure
from ._errors import RESET_PASSWORD, SignInFailed, SignInRequired
from ._session import Session, User, safe_return_url
from ._webapp import AsyncWebAppAuth

#: The name of the routes' ``Mount`` (``request.url_for("identitylib:login")``).
ROUTES_NAME = "identitylib"
#: Largest form body read (the provider's ``form_post``, the sign-out form), in bytes.
MAX_FORM_BYTES = 64 * 1024
#: Most fields read from one form.
MAX_FORM_FIELDS = 50

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]


class SecureSessionMiddleware:
    """Starlette's ``SessionMiddleware`` (signed cookies) with identitylib's cookie policy:
    ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` on every request except plain http to
    a loopback host (local development, where a browser may drop a Secure cookie), decided
    per request. ``always_secure=True`` makes it Secure there too.

    The other parameters are ``SessionMiddleware``'s: ``secret_key`` signs the cookie
    (keep it secret, the same in every process), ``session_cookie``, ``max_age`` (seconds),
    ``path``, ``domain``.
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str,
        *,
        session_cookie: str = "session",
        max_age: Optional[int] = 14 * 24 * 3600,
        path: str = "/",
        domain: Optional[str] = None,
        always_secure: bool = False,
    ) -> None:
        if not isinstance(secret_key, str) or len(secret_key) < 16:
            raise ValueError("secret_key must be a random string of at least 16 characters")
        options: dict[str, Any] = {
            "session_cookie": session_cookie,
            "max_age": max_age,
            "path": path,
            "same_site": "lax",
            "domain": domain,
        }
        self._secure = SessionMiddleware(app, secret_key, https_only=True, **options)
        self._loopback = (
            self._secure
            if always_secure
            else SessionMiddleware(app, secret_key, https_only=False, **options)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plain = scope["type"] in ("http", "websocket") and scope.get("scheme") in ("http", "ws")
        if plain and not cookie_must_be_secure(Headers(scope=scope).get("host", "")):
            await self._loopback(scope, receive, send)
        else:
            await self._secure(scope, receive, send)


def check_session_middleware(app: Any) -> None:
    """Check the settings of a plain Starlette ``SessionMiddleware`` added to ``app``:
    ``same_site`` must be ``lax`` (``strict`` loses the session on the return from the
    provider, ``none`` sends it with cross-site requests); without ``https_only=True``
    the cookie is never ``Secure`` (a warning; :class:`SecureSessionMiddleware` decides
    per request)."""
    for entry in getattr(app, "user_middleware", ()):
        if getattr(entry, "cls", None) is not SessionMiddleware:
            continue
        options = dict(getattr(entry, "kwargs", None) or getattr(entry, "options", None) or {})
        if str(options.get("same_site", "lax")).lower() != "lax":
            raise ValueError("identitylib.web needs session cookies with same_site='lax'")
        if not options.get("https_only", False):
            warnings.warn(
                "SessionMiddleware without https_only=True never marks the session cookie "
                "Secure; use identitylib.web.starlette.SecureSessionMiddleware",
                UserWarning,
                stacklevel=3,
            )


def session_of(connection: HTTPConnection) -> Session:
    """The request's session (a session middleware must be installed)."""
    if "session" not in connection.scope:
        raise RuntimeError(
            "identitylib.web.starlette needs a session middleware: "
            "auth.install(app, secret_key=...) or Middleware(SecureSessionMiddleware, ...)"
        )
    session: Session = connection.session
    return session


async def _read_form(request: Request) -> Optional[dict[str, str]]:
    """The fields of a urlencoded form body, or None when the body is not one or is larger
    than :data:`MAX_FORM_BYTES` (read no further: a bounded read)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:  # not UTF-8, or too many fields
        return None
    form: dict[str, str] = {}
    for name, value in fields:
        form.setdefault(name, value)
    return form


def _page(title: str, body: str, status: int) -> HTMLResponse:
    """A minimal HTML page (``title`` is escaped; ``body`` is HTML)."""
    text = f"<!doctype html><title>{html.escape(title)}</title><body>{body}</body>"
    return HTMLResponse(text, status_code=status)


def _path_of(request: HTTPConnection) -> str:
    """The request's path and query, as a return URL."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


class StarletteAuth:
    """Signs the users of a Starlette or FastAPI app in and out and gets tokens for them.

    Takes an :class:`~identitylib.web.AsyncWebAppAuth` (``auth=``) or its parameters
    (``client_id``, ``client_credential``, ``authority`` or ``oidc_authority``,
    ``scopes``, ``token_cache``, ``sign_in_store``, ...). ``home`` is where a user lands
    after signing out; ``url_prefix`` where the routes live. Given ``app``, installs
    itself there (:meth:`install`, with ``secret_key`` for the session middleware).
    """

    def __init__(
        self,
        app: Any = None,
        *,
        auth: Optional[AsyncWebAppAuth] = None,
        url_prefix: str = "/auth",
        home: str = "/",
        secret_key: Optional[str] = None,
        **options: Any,
    ) -> None:
        self.auth = auth if auth is not None else AsyncWebAppAuth(**options)
        self.url_prefix = url_prefix
        self.home = safe_return_url(home)
        if app is not None:
            self.install(app, secret_key=secret_key)

    # ------------------------------------------------------------------ set-up

    @property
    def mount(self) -> Mount:
        """The sign-in routes, a ``Mount`` at ``url_prefix`` for ``Starlette(routes=...)``."""
        return Mount(
            self.url_prefix,
            name=ROUTES_NAME,
            routes=[
                Route("/login", self._login, methods=["GET"], name="login"),
                Route("/redirect", self._redirect, methods=["GET", "POST"], name="redirect"),
                Route("/logout", self._logout, methods=["POST"], name="logout"),
                Route("/flow/{name}", self._user_flow, methods=["GET"], name="user_flow"),
            ],
        )

    @property
    def exception_handlers(self) -> dict[Union[int, type[Exception]], Handler]:
        """For ``Starlette(exception_handlers=...)``: :class:`SignInRequired` → sign-in."""
        return {SignInRequired: self._sign_in_required}

    def install(self, app: Any, *, secret_key: Optional[str] = None, **session: Any) -> None:
        """Add the routes and the sign-in handler to ``app`` (Starlette or FastAPI) and,
        given ``secret_key``, a :class:`SecureSessionMiddleware` (``session``: its other
        options). Without ``secret_key`` the app must have a session middleware of its own
        (a plain ``SessionMiddleware``'s settings are checked)."""
        if secret_key is not None:
            app.add_middleware(SecureSessionMiddleware, secret_key=secret_key, **session)
        else:
            check_session_middleware(app)
        app.router.routes.insert(0, self.mount)
        for kind, handler in self.exception_handlers.items():
            app.add_exception_handler(kind, handler)

    async def aclose(self) -> None:
        """Close the HTTP clients (at the app's shutdown)."""
        await self.auth.aclose()

    # ------------------------------------------------------------------ for endpoints

    def user(self, request: Request) -> Optional[User]:
        """The signed-in user of ``request``, or None."""
        return self.auth.user(session_of(request))

    def csrf_token(self, request: Request) -> str:
        """The token the sign-out form must post as ``csrf_token``."""
        return self.auth.csrf_token(session_of(request))

    def login_required(self, endpoint: Endpoint) -> Endpoint:
        """An endpoint decorator: an anonymous user is sent to sign in, then back here."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            if self.user(request) is None:
                raise SignInRequired(reason="not signed in")
            return await endpoint(request)

        return guarded

    async def token_for_user(
        self, request: Request, scopes: Sequence[str], *, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """A token result for the signed-in user (raises :class:`SignInRequired`, which
        sends the user through sign-in and back to this page)."""
        session = session_of(request)
        return await self.auth.token_for_user(session, scopes, claims_challenge=claims_challenge)

    # ------------------------------------------------------------------ routes

    async def sign_in(self, request: Request, return_to: str, **options: Any) -> Response:
        """Redirect to the provider to sign in, then back to ``return_to`` (a path of
        this app); ``options`` as for ``AsyncWebAppAuth.sign_in_url``."""
        url = await self.auth.sign_in_url(
            session_of(request),
            redirect_uri=str(request.url_for(f"{ROUTES_NAME}:redirect")),
            return_to=safe_return_url(return_to, self.home),
            **options,
        )
        return RedirectResponse(url, 302)

    async def _login(self, request: Request) -> Response:
        return await self.sign_in(request, request.query_params.get("next") or self.home)

    async def _user_flow(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in self.auth.user_flows:
            return _page("Not found", "<p>No such user flow.</p>", 404)
        next_page = request.query_params.get("next") or self.home
        return await self.sign_in(request, next_page, user_flow=name)

    async def _redirect(self, request: Request) -> Response:
        if request.method == "POST":
            # form_post: a cross-site POST, without the SameSite=Lax session cookie. The
            # session is not touched here (a Set-Cookie would replace the browser's one).
            form = await _read_form(request)
            if form is None:
                return _page("Sign-in failed", "<p>The sign-in response is malformed.</p>", 400)
            try:
                state = await self.auth.keep_form_post(form)
            except SignInFailed as failed:
                return self._failed(failed)
            return RedirectResponse(f"{request.url.path}?{urlencode({'state': state})}", 303)
        args = dict(request.query_params)
        response = args if ("code" in args or "error" in args) else None
        try:
            signed_in = await self.auth.complete_sign_in(
                session_of(request), state=args.get("state"), response=response
            )
        except SignInFailed as failed:
            if failed.password_reset_requested and RESET_PASSWORD in self.auth.user_flows:
                return await self.sign_in(request, self.home, user_flow=RESET_PASSWORD)
            return self._failed(failed)
        return RedirectResponse(signed_in.return_to, 303)

    async def _logout(self, request: Request) -> Response:
        session = session_of(request)
        form = await _read_form(request) or {}
        if not self.auth.csrf_valid(session, form.get("csrf_token")):
            return _page("Sign-out refused", "<p>The sign-out form has expired.</p>", 400)
        target = str(request.base_url).rstrip("/") + self.home
        url = await self.auth.sign_out_url(session, post_logout_redirect_uri=target)
        session.clear()
        return RedirectResponse(url, 303)

    async def _sign_in_required(self, request: Request, needed: Exception) -> Response:
        if not isinstance(needed, SignInRequired):  # registered for SignInRequired only
            raise needed
        return_to = _path_of(request) if request.method == "GET" else self.home
        return await self.sign_in(
            request,
            return_to,
            scopes=needed.scopes or None,
            claims_challenge=needed.claims_challenge,
        )

    def _failed(self, failed: SignInFailed) -> Response:
        message = html.escape(failed.error)
        return _page("Sign-in failed", f"<p>Sign-in failed: {message}</p>", 400)


class StarletteApiGuard:
    """Protects the endpoints of a Starlette web API: ``@guard.requires(scopes=[...])``.

    Takes an :class:`~identitylib.web.AsyncProtectedApi` (``api=``) or its parameters
    (``authority``, ``audience``, ...; ``client_id`` and ``client_credential`` for
    on-behalf-of). A request without a valid token gets 401 (403 for a missing scope or
    role) with an RFC 6750 ``WWW-Authenticate`` header and a JSON error; the endpoint gets
    the :class:`~identitylib.web.Caller` from :meth:`caller`. Given ``app``, installs its
    error handlers there (:meth:`install`).
    """

    def __init__(
        self, app: Any = None, *, api: Optional[AsyncProtectedApi] = None, **options: Any
    ) -> None:
        self.api = api if api is not None else AsyncProtectedApi(**options)
        if app is not None:
            self.install(app)

    @property
    def exception_handlers(self) -> dict[Union[int, type[Exception]], Handler]:
        """For ``Starlette(exception_handlers=...)``: token errors and claims challenges."""
        return {TokenValidationError: self._rejected, ClaimsChallenge: self._challenge}

    def install(self, app: Any) -> None:
        """Answer token and claims-challenge errors as RFC 6750 says."""
        for kind, handler in self.exception_handlers.items():
            app.add_exception_handler(kind, handler)

    async def aclose(self) -> None:
        """Close the on-behalf-of application's HTTP clients (at the app's shutdown)."""
        await self.api.aclose()

    async def authenticate(
        self,
        request: HTTPConnection,
        *,
        scopes: Optional[Sequence[str]] = None,
        roles: Optional[Sequence[str]] = None,
    ) -> Caller:
        """The caller of ``request``, whose token has ``scopes`` (or, for an app,
        ``roles``; either suffices when both are given); raises ``TokenValidationError``."""
        caller = await self.api.authenticate(
            request.headers.get("Authorization"), scopes=scopes, roles=roles
        )
        request.state.identitylib_caller = caller
        return caller

    def caller(self, request: HTTPConnection) -> Caller:
        """The caller of a request that passed :meth:`authenticate` or :meth:`requires`."""
        caller = getattr(request.state, "identitylib_caller", None)
        if not isinstance(caller, Caller):
            raise RuntimeError("this request was not authenticated by the guard")
        return caller

    def requires(
        self, *, scopes: Optional[Sequence[str]] = None, roles: Optional[Sequence[str]] = None
    ) -> Callable[[Endpoint], Endpoint]:
        """An endpoint decorator: the request must carry a valid token with ``scopes``
        (or, for an app, ``roles``)."""

        def decorate(endpoint: Endpoint) -> Endpoint:
            @functools.wraps(endpoint)
            async def guarded(request: Request) -> Response:
                await self.authenticate(request, scopes=scopes, roles=roles)
                return await endpoint(request)

            return guarded

        return decorate

    async def acquire_token_on_behalf_of(
        self, caller: Caller, scopes: Sequence[str]
    ) -> dict[str, Any]:
        """A token for a downstream API as the caller's user (raises
        :class:`~identitylib.web.ClaimsChallenge`, answered 401 by the handler)."""
        return await self.api.acquire_token_on_behalf_of(caller, scopes)

    async def _rejected(self, request: Request, rejected: Exception) -> Response:
        if not isinstance(rejected, TokenValidationError):  # registered for it only
            raise rejected
        return _error_response(
            rejected.status_code,
            {"error": rejected.error, "error_description": rejected.description},
            rejected.www_authenticate,
        )

    async def _challenge(self, request: Request, challenge: Exception) -> Response:
        if not isinstance(challenge, ClaimsChallenge):  # registered for it only
            raise challenge
        body = {"error": "insufficient_claims", "error_description": str(challenge)}
        return _error_response(401, body, challenge.www_authenticate)


def _error_response(status: int, body: Mapping[str, Any], challenge: str) -> JSONResponse:
    """A JSON error with its ``WWW-Authenticate`` challenge."""
    return JSONResponse(dict(body), status_code=status, headers={"WWW-Authenticate": challenge})


__all__ = [
    "MAX_FORM_BYTES",
    "ROUTES_NAME",
    "SecureSessionMiddleware",
    "StarletteApiGuard",
    "StarletteAuth",
    "check_session_middleware",
]
