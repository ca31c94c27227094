"""A template context processor: add
``"identitylib.web.django.context_processors.identity"`` to the ``context_processors``
of ``TEMPLATES`` and templates get ``identitylib_user`` (the signed-in
:class:`~identitylib.web.User` or None). The sign-out form posts to
``{% url 'identitylib:logout' %}`` with ``{% csrf_token %}``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from ._settings import get_auth


def identity(request: HttpRequest) -> dict[str, Any]:
    """``identitylib_user`` for templates."""
    return {"identitylib_user": get_auth().user(request)}
