"""What every adapter shares: which acquisition method serves which application."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Generator, Mapping, Sequence
from typing import Any, Callable, Optional

from identitylib._log import hide
from identitylib.exceptions import MsalError

_Step = Callable[[], Any]
_Steps = Generator[_Step, Any, dict[str, Any]]


class TokenAcquisitionError(MsalError):
    """An adapter could not get a token; ``result`` is the error dict of the application."""

    def __init__(self, result: Mapping[str, Any]) -> None:
        self.result = dict(result)
        error = self.result.get("error", "no_token")
        description = self.result.get("error_description") or ""
        super().__init__(f"{error}: {description}".rstrip(": "))


def resource_of(scopes: Sequence[str]) -> str:
    """The resource of ``scopes`` for a managed identity: the first scope minus ``/.default``."""
    if not scopes:
        raise ValueError("at least one scope is needed")
    scope = scopes[0]
    return scope[: -len("/.default")] if scope.endswith("/.default") else scope


def expires_on(result: Mapping[str, Any], now: Optional[float] = None) -> int:
    """The Unix time a token result expires at."""
    now = time.time() if now is None else now
    if "expires_on" in result:
        return int(result["expires_on"])
    return int(now + int(result.get("expires_in", 0)))


def refresh_on(result: Mapping[str, Any], now: Optional[float] = None) -> Optional[int]:
    """The Unix time a token result should be refreshed at, when the provider said so."""
    now = time.time() if now is None else now
    if result.get("refresh_on"):
        return int(result["refresh_on"])
    if result.get("refresh_in"):
        return int(now + int(result["refresh_in"]))
    return None


def _is_managed_identity(app: Any) -> bool:
    return hasattr(app, "acquire_token_for_client") and not hasattr(app, "get_accounts")


class TokenProvider:
    """Gets tokens from any identitylib application the way its kind of app should.

    * A :class:`~identitylib.ManagedIdentityClient`: ``acquire_token_for_client(resource=)``
      for the first scope (``https://x/.default`` becomes the resource ``https://x``).
    * A :class:`~identitylib.ConfidentialClientApplication` with neither ``account`` nor
      ``username``: ``acquire_token_for_client`` (app-only tokens; the cache first).
    * With ``user_assertion`` (the token a web API received): the on-behalf-of flow,
      ``acquire_token_on_behalf_of`` of a confidential client (cached per assertion).
    * Otherwise a user's token: ``acquire_token_silent_with_error`` for ``account`` (or
      the cached account of ``username``, or the only cached account). When that needs
      a sign-in and ``interactive`` is True, a
      :class:`~identitylib.PublicClientApplication` signs in with ``acquire_token``.

    A ``claims_challenge`` (from a resource's 401) is passed on, which skips cached
    access tokens. The methods of ``identitylib.aio`` applications may be coroutines:
    :meth:`acquire_async` awaits them, and runs a blocking application in a worker
    thread. Failures raise :class:`TokenAcquisitionError`.
    """

    def __init__(
        self,
        app: Any,
        scopes: Optional[Sequence[str]] = None,
        *,
        account: Optional[Mapping[str, Any]] = None,
        username: Optional[str] = None,
        interactive: bool = False,
        user_assertion: Optional[str] = None,
    ) -> None:
        self.app = app
        self.user_assertion = hide(user_assertion)  # '***' in crash reports' locals
        self.scopes = list(scopes or [])
        self.account = account
        self.username = username
        self.interactive = interactive

    def _scopes(self, scopes: Optional[Sequence[str]]) -> list[str]:
        chosen = list(scopes) if scopes else self.scopes
        if not chosen:
            raise ValueError("no scopes: pass them to the adapter or to the call")
        return chosen

    def _steps(self, scopes: list[str], claims_challenge: Optional[str]) -> _Steps:
        app = self.app
        if _is_managed_identity(app):
            resource = resource_of(scopes)
            result: Optional[dict[str, Any]] = yield lambda: app.acquire_token_for_client(
                resource=resource, claims_challenge=claims_challenge
            )
            return result or {}
        if self.user_assertion is not None:
            assertion = self.user_assertion
            result = yield lambda: app.acquire_token_on_behalf_of(
                assertion, scopes, claims_challenge=claims_challenge
            )
            return result or {}
        user_mode = self.account is not None or self.username is not None
        if hasattr(app, "acquire_token_for_client") and not user_mode:
            result = yield lambda: app.acquire_token_for_client(
                scopes, claims_challenge=claims_challenge
            )
            return result or {}
        account = self.account
        if account is None:
            accounts = yield lambda: app.get_accounts(username=self.username)
            if accounts and (self.username or len(accounts) == 1):
                account = accounts[0]
        result = None
        if account is not None:
            chosen = account
            result = yield lambda: app.acquire_token_silent_with_error(
                scopes, chosen, claims_challenge=claims_challenge
            )
            if result and "access_token" in result:
                return result
        if self.interactive and hasattr(app, "acquire_token"):
            kwargs: dict[str, Any] = {"account": account, "username": self.username}
            if claims_challenge:
                kwargs["claims_challenge"] = claims_challenge
            result = yield lambda: app.acquire_token(scopes, **kwargs)
        return result or {
            "error": "interaction_required",
            "error_description": "No cached token for this account; sign in first "
            "(or let the adapter sign in with interactive=True).",
        }

    @staticmethod
    def _checked(result: dict[str, Any]) -> dict[str, Any]:
        if "access_token" not in result:
            raise TokenAcquisitionError(result)
        return result

    def acquire(
        self, scopes: Optional[Sequence[str]] = None, *, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """A token result dict (``access_token``, ``expires_in``, ...) for ``scopes``."""
        steps = self._steps(self._scopes(scopes), claims_challenge)
        value: Any = None
        try:
            while True:
                value = steps.send(value)()
        except StopIteration as done:
            return self._checked(done.value)

    async def acquire_async(
        self, scopes: Optional[Sequence[str]] = None, *, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """:meth:`acquire` without blocking the event loop."""
        steps = self._steps(self._scopes(scopes), claims_challenge)
        native = _is_async_app(self.app)
        value: Any = None
        try:
            while True:
                step = steps.send(value)
                value = await _run(step, native=native)
        except StopIteration as done:
            return self._checked(done.value)


def _is_async_app(app: Any) -> bool:
    """Whether the acquisition methods of ``app`` are coroutines (``identitylib.aio``)."""
    for name in ("acquire_token_silent_with_error", "acquire_token_for_client"):
        method = getattr(app, name, None)
        if method is not None:
            return inspect.iscoroutinefunction(method)
    return False


async def _run(step: _Step, *, native: bool) -> Any:
    """Run one step: an async app's step is awaited, a blocking one runs in a thread."""
    value = step() if native else await _in_thread(step)
    if inspect.isawaitable(value):
        awaited: Awaitable[Any] = value
        return await awaited
    return value


async def _in_thread(step: _Step) -> Any:
    try:
        import anyio.to_thread
    except ImportError:  # pragma: no cover - httpx and azure-core users have anyio or asyncio
        import asyncio

        return await asyncio.to_thread(step)
    return await anyio.to_thread.run_sync(step)


class ProviderAuth:
    """The constructor the HTTP clients' auth classes share: a :class:`TokenProvider` for
    ``app`` and ``scopes``, with the account, the username, whether to sign in
    interactively and an incoming ``user_assertion`` (on-behalf-of)."""

    def __init__(
        self,
        app: Any,
        scopes: Sequence[str],
        *,
        account: Optional[Mapping[str, Any]] = None,
        username: Optional[str] = None,
        interactive: bool = False,
        user_assertion: Optional[str] = None,
    ) -> None:
        self.provider = TokenProvider(
            app,
            scopes,
            account=account,
            username=username,
            interactive=interactive,
            user_assertion=user_assertion,
        )
