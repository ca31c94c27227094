"""``identitylib.web`` for FastAPI: the Starlette adapter, with FastAPI dependencies.

::

    from fastapi import Depends, FastAPI
    from identitylib.web import Caller, User
    from identitylib.web.fastapi import FastApiAuth, FastApiGuard

    app = FastAPI()
    auth = FastApiAuth(app, secret_key=..., client_id=..., client_credential=...,
                       authority=..., scopes=[ORDERS])

    @app.get("/orders")
    async def orders(user: User = Depends(auth.signed_in_user),
                     token: dict = Depends(auth.token_for([ORDERS]))):
        ...                                   # anonymous: sent to sign in and back here

    api = FastApiGuard(app, authority=..., audience=[...])

    @app.get("/api/orders")
    async def list_orders(caller: Caller = Depends(api.require(scopes=["Orders.Read"]))):
        ...                                   # no valid token: 401/403, never reached

:class:`FastApiAuth` is :class:`~identitylib.web.starlette.StarletteAuth` (routes under
``/auth``, the sign-in handler, :class:`~identitylib.web.starlette.SecureSessionMiddleware`)
plus dependencies; :class:`FastApiGuard` is
:class:`~identitylib.web.starlette.StarletteApiGuard` plus dependencies that also declare
the bearer scheme in the OpenAPI document (``pip install 'identitylib[fastapi]'``; see
``docs/web/fastapi.md``).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the dependencies'
# parameter annotations at run time.

from collections.abc import Awaitable, Sequence
from typing import Annotated, Any, Callable, Optional

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ._api import Caller
from ._errors import SignInRequired
from ._session import User
from .starlette import StarletteApiGuard, StarletteAuth

#: The OpenAPI security scheme of guarded routes (the guard reads the header itself).
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An access token for this API (Authorization: Bearer <token>)",
)


class FastApiAuth(StarletteAuth):
    """:class:`~identitylib.web.starlette.StarletteAuth` with FastAPI dependencies:
    :meth:`signed_in_user`, :meth:`optional_user` and :meth:`token_for`."""

    async def signed_in_user(self, request: Request) -> User:
        """A dependency: the signed-in user; an anonymous one is sent to sign in and
        back to this page."""
        user = self.user(request)
        if user is None:
            raise SignInRequired(reason="not signed in")
        return user

    async def optional_user(self, request: Request) -> Optional[User]:
        """A dependency: the signed-in user, or None."""
        return self.user(request)

    def token_for(
        self, scopes: Sequence[str], *, claims_challenge: Optional[str] = None
    ) -> Callable[[Request], Awaitable[dict[str, Any]]]:
        """A dependency: a token result for ``scopes`` for the signed-in user. When only
        a sign-in or consent can give one (not signed in, scopes not consented to yet, a
        claims challenge), the user is sent through it and back to this page."""
        wanted = list(scopes)

        async def token(request: Request) -> dict[str, Any]:
            return await self.token_for_user(request, wanted, claims_challenge=claims_challenge)

        return token


class FastApiGuard(StarletteApiGuard):
    """:class:`~identitylib.web.starlette.StarletteApiGuard` with FastAPI dependencies:
    ``Depends(guard.require(scopes=..., roles=...))`` gives the
    :class:`~identitylib.web.Caller`, ``Depends(guard.on_behalf_of([...], scopes=...))`` a
    token for a downstream API as the caller's user."""

    def __init__(self, app: Any = None, **options: Any) -> None:
        super().__init__(app, **options)
        self._requirements: dict[
            tuple[tuple[str, ...], tuple[str, ...]], Callable[..., Awaitable[Caller]]
        ] = {}

    def require(
        self, *, scopes: Optional[Sequence[str]] = None, roles: Optional[Sequence[str]] = None
    ) -> Callable[..., Awaitable[Caller]]:
        """A dependency: the caller, whose valid token has all ``scopes`` (or, for an
        app, all ``roles``; either suffices when both are given). Otherwise the request is
        answered 401 or 403 with ``WWW-Authenticate`` and a JSON error.

        The same requirement gives the same dependency, so FastAPI validates the token
        once per request however many dependencies ask for it."""
        key = (tuple(scopes or ()), tuple(roles or ()))
        requirement = self._requirements.get(key)
        if requirement is None:
            requirement = self._requirements[key] = self._requirement(scopes, roles)
        return requirement

    def _requirement(
        self, scopes: Optional[Sequence[str]], roles: Optional[Sequence[str]]
    ) -> Callable[..., Awaitable[Caller]]:
        required_scopes = list(scopes) if scopes is not None else None
        required_roles = list(roles) if roles is not None else None

        async def requirement(
            request: Request,
            _bearer: Annotated[Optional[HTTPAuthorizationCredentials], Depends(BEARER)],
        ) -> Caller:
            return await self.authenticate(request, scopes=required_scopes, roles=required_roles)

        return requirement

    def on_behalf_of(
        self,
        downstream_scopes: Sequence[str],
        *,
        scopes: Optional[Sequence[str]] = None,
        roles: Optional[Sequence[str]] = None,
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        """A dependency: a token for ``downstream_scopes`` on behalf of the caller (who
        must pass :meth:`require` with ``scopes`` / ``roles``). When the downstream API
        needs more of the user, the request is answered 401 with the claims challenge."""
        wanted = list(downstream_scopes)

        requirement = self.require(scopes=scopes, roles=roles)

        async def token(caller: Annotated[Caller, Depends(requirement)]) -> dict[str, Any]:
            return await self.acquire_token_on_behalf_of(caller, wanted)

        return token


__all__ = ["BEARER", "FastApiAuth", "FastApiGuard"]
