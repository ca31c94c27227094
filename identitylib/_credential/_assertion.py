"""Client assertions supplied by the app: a fixed JWT, or a callable returning one."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from identitylib._log import get_logger

from ._base import CLIENT_ASSERTION_TYPE_JWT, ClientAssertionError, ClientCredential, CredentialKind

__all__ = [
    "AssertionCallable",
    "AutoRefresher",
    "CallableClientAssertion",
    "StaticClientAssertion",
]

logger = get_logger(__name__)

_T = TypeVar("_T")

#: What ``{"client_assertion": ...}`` may hold besides a string: a callable taking no
#: argument, or one positional argument (a context dict).
AssertionCallable = Callable[..., Any]


class AutoRefresher(Generic[_T]):
    """A zero-argument callable returning ``factory()``, re-calling it at most every
    ``expires_in`` seconds.

    Wrap an expensive assertion source with it, e.g.
    ``{"client_assertion": AutoRefresher(read_federated_token, expires_in=300)}``.
    Thread-safe: concurrent callers wait for one ``factory()`` call instead of each making
    their own. A ``factory()`` that raises is not memoised; the next call tries again.
    """

    def __init__(self, factory: Callable[[], _T], expires_in: int = 540) -> None:
        if not callable(factory):
            raise TypeError(f"AutoRefresher needs a callable factory, got {type(factory).__name__}")
        self._factory = factory
        self._expires_in = expires_in
        self._lock = threading.Lock()
        self._memo: tuple[_T, float] | None = None  # (value, expires_at)

    def __call__(self) -> _T:
        with self._lock:
            now = time.time()
            if self._memo is not None and now < self._memo[1]:
                logger.debug("AutoRefresher: reusing the value obtained earlier")
                return self._memo[0]
            logger.debug("AutoRefresher: calling the factory for a new value")
            value = self._factory()
            self._memo = (value, now + self._expires_in)
            return value

    def __repr__(self) -> str:
        return f"<AutoRefresher factory={self._factory!r} expires_in={self._expires_in!r}>"


def _to_assertion(value: object, *, source: str) -> str:
    """Normalise an app-supplied assertion to ``str`` or raise :class:`ClientAssertionError`."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise ClientAssertionError(
                f"{source} returned bytes that are not ASCII; a JWT is ASCII text"
            ) from None
    if not isinstance(value, str):
        raise ClientAssertionError(
            f"{source} returned {type(value).__name__}; it must return the assertion "
            "(a JWT) as str or bytes"
        )
    # A JWT never contains whitespace; tokens read from files often end with a newline.
    value = value.strip()
    if not value:
        raise ClientAssertionError(f"{source} returned an empty assertion")
    return value


class StaticClientAssertion(ClientCredential):
    """A fixed assertion sent as-is on every token request (it will expire eventually)."""

    kind: ClassVar[CredentialKind] = "assertion"
    fixed_fields: ClassVar[bool] = True
    __slots__ = ("_assertion",)

    def __init__(self, assertion: str | bytes) -> None:
        try:
            self._assertion = _to_assertion(assertion, source="client_assertion")
        except ClientAssertionError as exc:
            raise ValueError(str(exc)) from None

    def auth_fields(
        self,
        *,
        client_id: str,
        token_endpoint: str,
        is_adfs: bool = False,
        fmi_path: str | None = None,
    ) -> dict[str, str]:
        return {
            "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT,
            "client_assertion": self._assertion,
        }


def _wants_context(func: AssertionCallable) -> bool:
    """Decide how to call an assertion callable: with a context dict (True) or with none.

    A callable with one required positional parameter gets the context dict; one whose
    positional parameters all have defaults (``lambda t=token: t``) is called without
    arguments, and so is one whose signature cannot be inspected. Anything else cannot be
    called either way and raises :class:`TypeError`.
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    required_positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    try:
        if required_positional:
            sig.bind({})
            return True
        sig.bind()
    except TypeError:
        raise TypeError(
            f"client_assertion callable {func!r} has the signature {sig}; it must take "
            "either no argument or exactly one positional argument (a dict with "
            "'client_id' and 'token_endpoint')"
        ) from None
    return False


class CallableClientAssertion(ClientCredential):
    """An app callable asked for an assertion on every token request sent on the wire.

    Wrap the callable in :class:`AutoRefresher` to reuse its result for a while.
    """

    kind: ClassVar[CredentialKind] = "assertion"
    __slots__ = ("_func", "_wants_context")

    def __init__(self, func: AssertionCallable) -> None:
        self._func = func
        self._wants_context = _wants_context(func)

    def auth_fields(
        self,
        *,
        client_id: str,
        token_endpoint: str,
        is_adfs: bool = False,
        fmi_path: str | None = None,
    ) -> dict[str, str]:
        source = "the client_assertion callable"
        try:
            if self._wants_context:
                context = {"client_id": client_id, "token_endpoint": token_endpoint}
                if fmi_path:
                    context["fmi_path"] = fmi_path
                logger.debug("Asking the client_assertion callable for an assertion (with context)")
                value = self._func(context)
            else:
                logger.debug("Asking the client_assertion callable for an assertion")
                value = self._func()
        except Exception as exc:
            raise ClientAssertionError(f"{source} raised {type(exc).__name__}: {exc}") from exc
        return {
            "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT,
            "client_assertion": _to_assertion(value, source=source),
        }
