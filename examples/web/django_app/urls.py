"""URLs of the Django example site."""

from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.index),
    path("call-api", views.call_api),
    path("api/me", views.api_me),
    path("auth/", include("identitylib.web.django.urls")),
]
