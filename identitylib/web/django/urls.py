"""The routes of sign-in and sign-out: ``path("auth/", include("identitylib.web.django.urls"))``.

* ``login`` (GET, ``?next=/path``): sign in, then back to ``next``;
* ``redirect`` (GET and POST): the redirect URI to register with the provider, e.g.
  ``https://app.example/auth/redirect``;
* ``logout`` (POST with Django's CSRF token): sign out of the site and the provider;
* ``flow/<name>`` (GET): a B2C user flow named in ``user_flows``.

Their names are in the ``identitylib`` namespace: ``{% url 'identitylib:login' %}``.
"""

from __future__ import annotations

from django.urls import path

from . import views
from ._auth import NAMESPACE

app_name = NAMESPACE

urlpatterns = [
    path("login", views.login, name="login"),
    path("redirect", views.redirect, name="redirect"),
    path("logout", views.logout, name="logout"),
    path("flow/<str:name>", views.user_flow, name="user_flow"),
]
