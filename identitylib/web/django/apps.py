"""The Django app of ``identitylib.web``: add ``"identitylib.web.django"`` to
``INSTALLED_APPS`` for its system checks (middleware order, cookie settings) and so that
its settings' credentials are hidden from Django's error reports from the start."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class IdentitylibWebConfig(AppConfig):
    """Registers the checks of ``identitylib.web.django.checks``; hides the credentials."""

    name = "identitylib.web.django"
    label = "identitylib_web"
    verbose_name = "identitylib web sign-in"

    def ready(self) -> None:
        from ._settings import hide_credentials
        from .checks import check_cookie_settings, check_middleware

        hide_credentials()

        checks.register(check_middleware, checks.Tags.security)
        checks.register(check_cookie_settings, checks.Tags.security)
