"""View decorators and helpers of a Django site that signs users in."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable, Optional, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest

from identitylib.web._errors import SignInRequired
from identitylib.web._session import User

from ._settings import get_auth

F = TypeVar("F", bound=Callable[..., Any])


def get_user(request: HttpRequest) -> Optional[User]:
    """The signed-in :class:`~identitylib.web.User` of ``request`` (not Django's auth
    user), or None."""
    return get_auth().user(request)


def token_for_user(
    request: HttpRequest, scopes: Sequence[str], *, claims_challenge: Optional[str] = None
) -> dict[str, Any]:
    """A token result for the signed-in user. Raises
    :class:`~identitylib.web.SignInRequired`, which ``AuthMiddleware`` turns into a trip
    through sign-in (consent to ``scopes``, or the claims challenge) and back to the page."""
    return get_auth().token_for_user(request, scopes, claims_challenge=claims_challenge)


def login_required(view: F) -> F:
    """A view decorator: an anonymous user is sent to sign in, then back to the page."""
    refuse_coroutine(view, "login_required")

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        auth = get_auth()
        if auth.user(request) is None:
            return auth.sign_in_required(request, SignInRequired(reason="not signed in"))
        return view(request, *args, **kwargs)

    return cast(F, guarded)


def refuse_coroutine(view: Callable[..., Any], decorator: str) -> None:
    """The adapter drives the blocking API: an ``async def`` view is refused when it is
    decorated rather than failing on its first request."""
    if iscoroutinefunction(view):
        raise TypeError(
            f"{decorator} guards synchronous Django views; for asyncio use "
            "identitylib.web.starlette or the asyncio classes of identitylib.web"
        )
