"""``identitylib.web`` for Flask: sign-in, sign-out, tokens for the signed-in user, and
protected API routes.

::

    from flask import Flask
    from identitylib.web.flask import FlaskAuth, FlaskApiGuard

    app = Flask(__name__)
    app.secret_key = ...
    auth = FlaskAuth(app, client_id=..., client_credential=..., authority=...,
                     scopes=["api://my-api/access_as_user"])

    @app.get("/orders")
    @auth.login_required
    def orders():
        token = auth.token_for_user(["api://my-api/access_as_user"])  # or a sign-in
        ...

Routes (under ``url_prefix``, default ``/auth``): ``GET login?next=/path``, ``GET|POST
redirect`` (the redirect URI to register, e.g. ``https://app.example/auth/redirect``),
``POST logout`` (a form with ``csrf_token``: :meth:`FlaskAuth.csrf_token`, also given to
templates as ``identitylib_csrf_token``), and ``GET flow/<name>`` for B2C user flows (edit
profile, password reset). A :class:`~identitylib.web.SignInRequired` raised by any view
(``token_for_user`` raises it when consent or a new sign-in is needed) sends the user
through sign-in with the scopes or claims it names and back to the same page.

Session cookies are ``HttpOnly``, ``SameSite=Lax`` (or ``Strict`` when the app set it) and
``Secure`` outside loopback, whatever the app's settings say; the
session holds no token, code or secret (``pip install 'identitylib[flask]'``).
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import Any, Callable, Optional, TypeVar, cast

from flask import Blueprint, Flask, abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from identitylib.validation import TokenValidationError

from ._api import Caller, ClaimsChallenge, ProtectedApi
from ._cookies import cookie_must_be_secure
from ._errors import RESET_PASSWORD, SignInFailed, SignInRequired
from ._session import User, safe_return_url
from ._webapp import WebAppAuth

F = TypeVar("F", bound=Callable[..., Any])

BLUEPRINT = "identitylib"


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, ``Secure`` unless the request came to loopback."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or cookie_must_be_secure(
            request.host
        )


def _page(title: str, body: str, status: int) -> Response:
    text = f"<!doctype html><title>{html.escape(title)}</title><body>{body}</body>"
    return Response(text, status=status, mimetype="text/html")


class FlaskAuth:
    """Signs the users of a Flask app in and out and gets tokens for them.

    Takes a :class:`~identitylib.web.WebAppAuth` (``auth=``) or its parameters
    (``client_id``, ``client_credential``, ``authority`` or ``oidc_authority``,
    ``scopes``, ``token_cache``, ``sign_in_store``, ...). ``home`` is where a user lands
    after signing out; ``url_prefix`` where the routes live.
    """

    def __init__(
        self,
        app: Optional[Flask] = None,
        *,
        auth: Optional[WebAppAuth] = None,
        url_prefix: str = "/auth",
        home: str = "/",
        **options: Any,
    ) -> None:
        self.auth = auth if auth is not None else WebAppAuth(**options)
        self.url_prefix = url_prefix
        self.home = safe_return_url(home)
        if app is not None:
            self.init_app(app)

    # ------------------------------------------------------------------ set-up

    def init_app(self, app: Flask) -> None:
        """Register the routes, the sign-in handler and the cookie policy on ``app``."""
        # Flask's defaults are HttpOnly and no SameSite; the policy is HttpOnly and Lax (or
        # an app's stricter Strict) whatever the app configured.
        app.config["SESSION_COOKIE_HTTPONLY"] = True
        if app.config.get("SESSION_COOKIE_SAMESITE") not in ("Lax", "Strict"):
            app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
        if type(app.session_interface) is SecureCookieSessionInterface:
            app.session_interface = _SessionInterface()
        blueprint = Blueprint(BLUEPRINT, __name__, url_prefix=self.url_prefix)
        blueprint.add_url_rule("/login", "login", self._login, methods=["GET"])
        blueprint.add_url_rule("/redirect", "redirect", self._redirect, methods=["GET", "POST"])
        blueprint.add_url_rule("/logout", "logout", self._logout, methods=["POST"])
        blueprint.add_url_rule("/flow/<name>", "user_flow", self._user_flow, methods=["GET"])
        app.register_blueprint(blueprint)
        app.register_error_handler(SignInRequired, self._sign_in_required)
        app.context_processor(lambda: {"identitylib_csrf_token": self.csrf_token})

    # ------------------------------------------------------------------ for views

    @property
    def user(self) -> Optional[User]:
        """The signed-in user of the current request, or None."""
        return self.auth.user(session)

    def csrf_token(self) -> str:
        """The token the sign-out form must post as ``csrf_token``."""
        return self.auth.csrf_token(session)

    def login_required(self, view: F) -> F:
        """A view decorator: an anonymous user is sent to sign in, then back here."""

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.user is None:
                raise SignInRequired(reason="not signed in")
            return view(*args, **kwargs)

        return cast(F, guarded)

    def token_for_user(
        self, scopes: Sequence[str], *, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """A token result for the signed-in user (raises :class:`SignInRequired`, which
        sends the user through sign-in and back to this page)."""
        return self.auth.token_for_user(session, scopes, claims_challenge=claims_challenge)

    # ------------------------------------------------------------------ routes

    def _redirect_uri(self) -> str:
        return url_for(f"{BLUEPRINT}.redirect", _external=True)

    def _sign_in(self, return_to: str, **options: Any) -> Response:
        url = self.auth.sign_in_url(
            session, redirect_uri=self._redirect_uri(), return_to=return_to, **options
        )
        return redirect(url, 302)

    def _login(self) -> Response:
        return self._sign_in(safe_return_url(request.args.get("next"), self.home))

    def _user_flow(self, name: str) -> Response:
        if name not in self.auth.user_flows:
            abort(404)
        return self._sign_in(safe_return_url(request.args.get("next"), self.home), user_flow=name)

    def _redirect(self) -> Response:
        if request.method == "POST":  # form_post: no session cookie on this cross-site POST
            try:
                state = self.auth.keep_form_post(request.form.to_dict())
            except SignInFailed as failed:
                return self._failed(failed)
            return redirect(url_for(f"{BLUEPRINT}.redirect", state=state), 303)
        args = request.args.to_dict()
        response = args if ("code" in args or "error" in args) else None
        try:
            signed_in = self.auth.complete_sign_in(
                session, state=args.get("state"), response=response
            )
        except SignInFailed as failed:
            return self._failed(failed)
        session.modified = True
        return redirect(signed_in.return_to, 303)

    def _logout(self) -> Response:
        if not self.auth.csrf_valid(session, request.form.get("csrf_token")):
            return _page("Sign-out refused", "<p>The sign-out form has expired.</p>", 400)
        target = request.host_url.rstrip("/") + self.home
        url = self.auth.sign_out_url(session, post_logout_redirect_uri=target)
        session.clear()
        return redirect(url, 303)

    def _sign_in_required(self, needed: SignInRequired) -> Response:
        return_to = request.full_path if request.method == "GET" else self.home
        return self._sign_in(
            safe_return_url(return_to.rstrip("?"), self.home),
            scopes=needed.scopes or None,
            claims_challenge=needed.claims_challenge,
        )

    def _failed(self, failed: SignInFailed) -> Response:
        if failed.password_reset_requested and RESET_PASSWORD in self.auth.user_flows:
            return self._sign_in(self.home, user_flow=RESET_PASSWORD)
        message = html.escape(failed.error)
        return _page("Sign-in failed", f"<p>Sign-in failed: {message}</p>", 400)


class FlaskApiGuard:
    """Protects the routes of a Flask web API: ``@guard.require(scopes=[...])``.

    Takes a :class:`~identitylib.web.ProtectedApi` (``api=``) or its parameters
    (``authority``, ``audience``, ...; ``client_id`` and ``client_credential`` for
    on-behalf-of). A request without a valid token gets 401 (403 for a missing scope or
    role) with an RFC 6750 ``WWW-Authenticate`` header and a JSON error; the view gets
    the :class:`~identitylib.web.Caller` as :attr:`caller`.
    """

    def __init__(
        self, app: Optional[Flask] = None, *, api: Optional[ProtectedApi] = None, **options: Any
    ) -> None:
        self.api = api if api is not None else ProtectedApi(**options)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Answer token and claims-challenge errors of guarded routes as RFC 6750 says."""
        app.register_error_handler(TokenValidationError, self._rejected)
        app.register_error_handler(ClaimsChallenge, self._challenge)

    @property
    def caller(self) -> Caller:
        """The caller of the current guarded request."""
        caller: Caller = g.identitylib_caller
        return caller

    def require(
        self, *, scopes: Optional[Sequence[str]] = None, roles: Optional[Sequence[str]] = None
    ) -> Callable[[F], F]:
        """A decorator: the request must carry a valid token with ``scopes`` (or, for an
        app, ``roles``; either suffices when both are given)."""

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                caller = self.api.authenticate(
                    request.headers.get("Authorization"), scopes=scopes, roles=roles
                )
                g.identitylib_caller = caller
                return view(*args, **kwargs)

            return cast(F, guarded)

        return decorate

    def acquire_token_on_behalf_of(self, scopes: Sequence[str]) -> dict[str, Any]:
        """A token for a downstream API as the current caller's user."""
        return self.api.acquire_token_on_behalf_of(self.caller, scopes)

    def _rejected(self, rejected: TokenValidationError) -> Response:
        body = {"error": rejected.error, "error_description": rejected.description}
        response = Response(
            _json(body), status=rejected.status_code, mimetype="application/json"
        )
        response.headers["WWW-Authenticate"] = rejected.www_authenticate
        return response

    def _challenge(self, challenge: ClaimsChallenge) -> Response:
        body = {"error": "insufficient_claims", "error_description": str(challenge)}
        response = Response(_json(body), status=401, mimetype="application/json")
        response.headers["WWW-Authenticate"] = challenge.www_authenticate
        return response


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body)
