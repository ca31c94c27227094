"""The web app's side of the Django adapter: :class:`DjangoAuth` joins a
:class:`~identitylib.web.WebAppAuth` to Django's requests and sessions."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any, Optional

from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from identitylib.web._errors import SignInRequired
from identitylib.web._session import User, safe_return_url
from identitylib.web._webapp import WebAppAuth

#: The URL namespace of ``identitylib.web.django.urls``.
NAMESPACE = "identitylib"


class SessionMapping(MutableMapping[str, Any]):
    """Django's ``request.session`` as the mutable mapping the core works on.

    Every change goes through ``SessionBase.__setitem__`` / ``__delitem__``, so Django
    marks the session modified and saves it."""

    def __init__(self, session: SessionBase) -> None:
        self._session = session

    def __getitem__(self, key: str) -> Any:
        return self._session[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._session[key] = value

    def __delitem__(self, key: str) -> None:
        del self._session[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._session.keys()))

    def __len__(self) -> int:
        return len(self._session.keys())


def session_of(request: HttpRequest) -> SessionMapping:
    """The request's session, for the core."""
    session = getattr(request, "session", None)
    if not isinstance(session, SessionBase):
        raise ImproperlyConfigured(
            "identitylib.web.django needs Django sessions: add "
            "'django.contrib.sessions.middleware.SessionMiddleware' to MIDDLEWARE"
        )
    return SessionMapping(session)


class HttpResponseSeeOther(HttpResponseRedirect):
    """A 303 redirect: after a POST, the browser follows it with a GET."""

    status_code = 303


class DjangoAuth:
    """Signs the users of a Django site in and out and gets tokens for them.

    Made from ``settings.IDENTITYLIB_WEB`` (see :func:`~identitylib.web.django.get_auth`):
    a :class:`~identitylib.web.WebAppAuth` (``auth=``) or its parameters (``client_id``,
    ``client_credential``, ``authority`` or ``oidc_authority``, ``scopes``,
    ``user_flows``, ``token_cache``, ``sign_in_store``, ...); ``home`` is where a user
    lands after signing out, or after signing in with no page to return to.
    """

    def __init__(
        self, auth: Optional[WebAppAuth] = None, *, home: str = "/", **options: Any
    ) -> None:
        self.auth = auth if auth is not None else WebAppAuth(**options)
        self.home = safe_return_url(home)

    def user(self, request: HttpRequest) -> Optional[User]:
        """The signed-in user of ``request``, or None (from the session alone: no I/O)."""
        return self.auth.user(session_of(request))

    def token_for_user(
        self,
        request: HttpRequest,
        scopes: Sequence[str],
        *,
        claims_challenge: Optional[str] = None,
    ) -> dict[str, Any]:
        """A token result for the signed-in user; raises
        :class:`~identitylib.web.SignInRequired` (which ``AuthMiddleware`` turns into a
        trip through sign-in and back to this page)."""
        return self.auth.token_for_user(
            session_of(request), scopes, claims_challenge=claims_challenge
        )

    def redirect_uri(self, request: HttpRequest) -> str:
        """The redirect URI of this site (register it with the provider)."""
        return request.build_absolute_uri(reverse(f"{NAMESPACE}:redirect"))

    def sign_in(self, request: HttpRequest, return_to: str, **options: Any) -> HttpResponseRedirect:
        """Start a sign-in (``options``: scopes, claims_challenge, prompt, login_hint,
        domain_hint, user_flow); the redirect to the provider."""
        url = self.auth.sign_in_url(
            session_of(request),
            redirect_uri=self.redirect_uri(request),
            return_to=safe_return_url(return_to, self.home),
            **options,
        )
        return HttpResponseRedirect(url)

    def sign_in_required(
        self, request: HttpRequest, needed: SignInRequired
    ) -> HttpResponseRedirect:
        """Send the user through sign-in with the scopes or claims ``needed`` names, then
        back to the page (a GET's; ``home`` after any other method)."""
        return_to = request.get_full_path() if request.method == "GET" else self.home
        return self.sign_in(
            request,
            return_to,
            scopes=needed.scopes or None,
            claims_challenge=needed.claims_challenge,
        )
