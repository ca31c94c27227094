"""``AuthMiddleware``: the cookie policy of the session, and sign-in when a view needs it.

Put it in ``MIDDLEWARE`` *before* ``SessionMiddleware`` (so it sees the session cookie
that middleware sets)::

    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "identitylib.web.django.middleware.AuthMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        ...
    ]

* The session cookie is ``HttpOnly`` and ``SameSite=Lax`` whatever the settings say, and
  ``Secure`` unless the request came to a loopback host (``SESSION_COOKIE_SECURE`` is one
  value for every request; this decides per request, as the Flask adapter does). The CSRF
  cookie is ``Secure`` on the same terms.
* A :class:`~identitylib.web.SignInRequired` raised by a view (``token_for_user`` raises
  it when consent, a claims challenge or a new sign-in is needed) becomes the redirect
  through sign-in, with the scopes or claims it names, and back to the page.
"""

from __future__ import annotations

from typing import Callable, Optional

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase

from identitylib.web._cookies import cookie_must_be_secure
from identitylib.web._errors import SignInRequired

from ._settings import get_auth


class AuthMiddleware:
    """See the module docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        apply_cookie_policy(request, response)
        return response

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> Optional[HttpResponseBase]:
        """A view's :class:`SignInRequired` becomes the trip through sign-in."""
        if isinstance(exception, SignInRequired):
            return get_auth().sign_in_required(request, exception)
        return None


def apply_cookie_policy(request: HttpRequest, response: HttpResponseBase) -> None:
    """Make the session (and CSRF) cookies of ``response`` follow the cookie policy."""
    secure = _must_be_secure(request)
    session_cookie = response.cookies.get(settings.SESSION_COOKIE_NAME)
    if session_cookie is not None:
        session_cookie["httponly"] = True
        session_cookie["samesite"] = "Lax"
        if secure:
            session_cookie["secure"] = True
    csrf_cookie = response.cookies.get(settings.CSRF_COOKIE_NAME)
    if csrf_cookie is not None and secure:
        csrf_cookie["secure"] = True


def _must_be_secure(request: HttpRequest) -> bool:
    try:
        host = request.get_host()
    except DisallowedHost:
        return True
    return cookie_must_be_secure(host)
