"""Protecting the views of a Django web API: ``@require(scopes=[...])``.

``settings.IDENTITYLIB_API`` gives :class:`~identitylib.web.ProtectedApi` its settings
(``authority``, ``audience``, ...; ``client_id`` and ``client_credential`` for
on-behalf-of)::

    from identitylib.web.django.api import acquire_token_on_behalf_of, caller, require

    @require(scopes=["access_as_user"])
    def me(request):
        return JsonResponse({"name": caller(request).claims.get("name")})

A request without a valid token gets 401 (403 for a missing scope or role) with an RFC
6750 ``WWW-Authenticate`` header and a JSON error; a downstream API's claims challenge
(:class:`~identitylib.web.ClaimsChallenge`, from on-behalf-of) gets 401 with the header
that relays it. Guarded views are exempt from Django's CSRF check: they authenticate by
the ``Authorization`` header, which a browser never sends on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable, Optional, TypeVar, cast

from django.http import HttpRequest, JsonResponse

from identitylib.validation import TokenValidationError
from identitylib.web._api import Caller, ClaimsChallenge

from ._settings import get_api
from .decorators import refuse_coroutine

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute of a guarded request that holds its :class:`Caller`.
CALLER_ATTRIBUTE = "identitylib_caller"


def require(
    *, scopes: Optional[Sequence[str]] = None, roles: Optional[Sequence[str]] = None
) -> Callable[[F], F]:
    """A view decorator: the request must carry a valid token with ``scopes`` (or, for an
    app, ``roles``; either suffices when both are given)."""

    def decorate(view: F) -> F:
        refuse_coroutine(view, "require")

        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            try:
                found = get_api().authenticate(
                    request.headers.get("Authorization"), scopes=scopes, roles=roles
                )
                setattr(request, CALLER_ATTRIBUTE, found)
                return view(request, *args, **kwargs)
            except TokenValidationError as rejected:
                return _rejected(rejected)
            except ClaimsChallenge as challenge:
                return _challenged(challenge)

        guarded.csrf_exempt = True  # type: ignore[attr-defined]
        return cast(F, guarded)

    return decorate


def caller(request: HttpRequest) -> Caller:
    """The :class:`~identitylib.web.Caller` of a request that ``require`` let through."""
    found = getattr(request, CALLER_ATTRIBUTE, None)
    if not isinstance(found, Caller):
        raise LookupError("this request did not pass through identitylib's require()")
    return found


def acquire_token_on_behalf_of(request: HttpRequest, scopes: Sequence[str]) -> dict[str, Any]:
    """A token for a downstream API as the caller's user. Raises
    :class:`~identitylib.web.ClaimsChallenge` (answered 401 by ``require``) or
    :class:`~identitylib.web.TokenAcquisitionError`."""
    return get_api().acquire_token_on_behalf_of(caller(request), scopes)


def _rejected(rejected: TokenValidationError) -> JsonResponse:
    body = {"error": rejected.error, "error_description": rejected.description}
    response = JsonResponse(body, status=rejected.status_code)
    response.headers["WWW-Authenticate"] = rejected.www_authenticate
    return response


def _challenged(challenge: ClaimsChallenge) -> JsonResponse:
    body = {"error": "insufficient_claims", "error_description": str(challenge)}
    response = JsonResponse(body, status=401)
    response.headers["WWW-Authenticate"] = challenge.www_authenticate
    return response
