"""``identitylib.web`` for Django: sign-in, sign-out, tokens for the signed-in user, and
protected API views (``pip install 'identitylib[django]'``).

settings.py::

    INSTALLED_APPS = [..., "identitylib.web.django"]
    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "identitylib.web.django.middleware.AuthMiddleware",   # before SessionMiddleware
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        ...
    ]
    IDENTITYLIB_WEB = {
        "client_id": ..., "client_credential": ..., "authority": ...,
        "scopes": ["api://my-api/access_as_user"],
    }

urls.py::

    path("auth/", include("identitylib.web.django.urls")),

views.py::

    from identitylib.web.django import login_required, token_for_user

    @login_required
    def orders(request):
        token = token_for_user(request, ["api://my-api/access_as_user"])  # or a sign-in
        ...

Routes: ``GET login?next=/path``, ``GET|POST redirect`` (the redirect URI to register,
e.g. ``https://app.example/auth/redirect``), ``POST logout`` (Django's CSRF token) and
``GET flow/<name>`` (B2C user flows), named in the ``identitylib`` namespace. The session
gets a new key at sign-in, holds no token, code or secret, and its cookie is ``HttpOnly``,
``SameSite=Lax`` and ``Secure`` outside loopback (``AuthMiddleware``). Protected web APIs:
``identitylib.web.django.api``.
"""

from ._auth import DjangoAuth
from ._settings import get_api, get_auth
from .decorators import get_user, login_required, token_for_user

__all__ = ["DjangoAuth", "get_api", "get_auth", "get_user", "login_required", "token_for_user"]
