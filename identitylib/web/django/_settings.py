"""The adapter's objects, made from Django settings on first use and kept for the process.

``settings.IDENTITYLIB_WEB`` (a dict) gives :class:`DjangoAuth` its parameters, and
``settings.IDENTITYLIB_API`` (a dict) gives :class:`~identitylib.web.ProtectedApi` its
own. A prebuilt object may stand in a dict's place under ``"auth"`` (a ``WebAppAuth``) or
``"api"`` (a ``ProtectedApi``). Changing either setting (``override_settings`` in tests)
makes the next request build a new object.

Django's error reports (the debug page, the e-mails to ``ADMINS``) show the settings, and
hide only the values of keys that name a key, secret, password or token: the
``client_credential`` of either setting is therefore turned into a string that shows as
``'***'`` (the same value for everything else) when the app is ready and when the setting
is read.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, Callable, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from identitylib._log import hide_credential
from identitylib.web._api import ProtectedApi

from ._auth import DjangoAuth

WEB_SETTING = "IDENTITYLIB_WEB"
API_SETTING = "IDENTITYLIB_API"

T = TypeVar("T")

_made: dict[str, Any] = {}
_lock = threading.Lock()


def get_auth() -> DjangoAuth:
    """The site's :class:`DjangoAuth`, from ``settings.IDENTITYLIB_WEB``."""
    return _made_from(WEB_SETTING, lambda options: DjangoAuth(**options))


def get_api() -> ProtectedApi:
    """The site's :class:`~identitylib.web.ProtectedApi`, from
    ``settings.IDENTITYLIB_API``."""
    return _made_from(API_SETTING, _protected_api)


def _protected_api(options: dict[str, Any]) -> ProtectedApi:
    api = options.pop("api", None)
    if api is not None:
        if not isinstance(api, ProtectedApi):
            raise ImproperlyConfigured(f'settings.{API_SETTING}["api"] must be a ProtectedApi')
        return api
    return ProtectedApi(**options)


def _made_from(name: str, make: Callable[[dict[str, Any]], T]) -> T:
    found = _made.get(name)
    if found is None:
        with _lock:
            found = _made.get(name)
            if found is None:
                found = _made[name] = make(_options(name))
    return found


def hide_credentials() -> None:
    """Make the credentials in both settings show as ``'***'`` in Django's error reports."""
    for name in (WEB_SETTING, API_SETTING):
        value = getattr(settings, name, None)
        if isinstance(value, MutableMapping) and value.get("client_credential") is not None:
            value["client_credential"] = hide_credential(value["client_credential"])


def _options(name: str) -> dict[str, Any]:
    hide_credentials()
    value = getattr(settings, name, None)
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"settings.{name} must be a dict of identitylib.web settings (see docs/web/django.md)"
        )
    return dict(value)


def _forget(*, setting: str, **_: Any) -> None:
    if setting in (WEB_SETTING, API_SETTING):
        with _lock:
            _made.pop(setting, None)


setting_changed.connect(_forget, dispatch_uid="identitylib.web.django.settings")
