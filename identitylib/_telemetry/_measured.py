"""The public-method boundary: each public ``acquire_token*`` call is one measured call.

:class:`MeasuredCalls` is a mixin of the application classes (blocking and asyncio) and of
the managed identity clients. When a class is defined, it wraps every ``acquire_token*``
method the class has (its own and inherited ones, once) so that a call:

* installs a :class:`~identitylib._telemetry._call.Call` as the observer of its HTTP
  requests and the slot of its refresh reason, for as long as it runs;
* adds itself to the app's totals (:meth:`MeasuredCalls.get_token_totals`);
* with OpenTelemetry enabled, has a span and records its metrics.

A public call made by another one (``acquire_token`` calling ``acquire_token_silent``, an
asyncio method running its blocking twin, an override calling ``super()``) is part of the
outer call, not a call of its own. Telemetry never makes a call fail: an error in it is
logged and the call goes on.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Mapping
from typing import Any, Callable, ClassVar, Optional, TypeVar, cast

from identitylib._flows._results import REFRESH_REASON
from identitylib._log import get_logger
from identitylib._transport._observe import HTTP_OBSERVER

from . import _names as n
from ._call import Call
from ._switch import Switch
from ._totals import TokenTotals, Totals

logger = get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

#: Marks a method already wrapped (by a base class).
_MARK = "__identitylib_measured__"
_TOTALS = "_identitylib_token_totals"


class MeasuredCalls:
    """Mixin: the public ``acquire_token*`` methods are measured calls (module docstring)."""

    #: Prefix of this class's API names (``managed_identity.`` for the managed identity
    #: clients, whose ``acquire_token_for_client`` is not the confidential client's).
    _telemetry_prefix: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            if not name.startswith("acquire_token"):
                continue
            method = getattr(cls, name, None)
            if inspect.isfunction(method) and not getattr(method, _MARK, False):
                setattr(cls, name, measured(cls._telemetry_prefix + name, method))

    def get_token_totals(self) -> TokenTotals:
        """What this object's ``acquire_token*`` calls came to so far: tokens from the
        cache and from the identity provider, errors, time spent in all and in HTTP
        (identitylib extension, as MSAL.NET's ``Metrics``; kept with or without
        OpenTelemetry)."""
        return totals_of(self).snapshot()

    def _telemetry_personal(self) -> bool:
        """Whether personal data (a username) may go into spans: ``enable_pii_log``."""
        return False


def totals_of(app: Any) -> Totals:
    """The totals of ``app``, made on first use."""
    slots = app.__dict__
    totals: Optional[Totals] = slots.get(_TOTALS)
    if totals is None:
        totals = slots.setdefault(_TOTALS, Totals())  # atomic: one wins
    return totals


def personal_attributes(
    method: Callable[..., Any], app: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """``user.name`` from a call's ``username`` or ``account`` argument, if it has one."""
    try:
        bound = inspect.signature(method).bind_partial(app, *args, **kwargs).arguments
    except (TypeError, ValueError):
        return {}
    username = bound.get("username")
    account = bound.get("account")
    if username is None and isinstance(account, Mapping):
        username = account.get("username")
    return {n.USER_NAME: username} if isinstance(username, str) and username else {}


def _begin(app: Any, api: str, method: Callable[..., Any], args: Any, kwargs: Any) -> Call:
    otel = Switch.instruments
    if otel is None:
        return Call(api, None)
    try:
        personal = None
        if app._telemetry_personal():
            personal = personal_attributes(method, app, args, kwargs)
        return Call(api, otel, personal)
    except Exception:
        logger.warning("Telemetry failed; the call goes on without it", exc_info=True)
        return Call(api, None)


def _end(app: Any, call: Call, result: Any, error: Optional[BaseException]) -> None:
    try:
        source, failed, seconds = call.finish(result, error)
        totals_of(app).add(source, failed, seconds, call.http_seconds)
    except Exception:
        logger.warning("Telemetry failed; the call goes on without it", exc_info=True)


def measured(api: str, method: F) -> F:
    """``method`` (a function or a coroutine function) as a measured call named ``api``."""
    if inspect.iscoroutinefunction(method):
        return cast(F, _measured_async(api, method))

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if HTTP_OBSERVER.get() is not None:  # inside another public call: part of it
            return method(self, *args, **kwargs)
        record = _begin(self, api, method, args, kwargs)
        watching = HTTP_OBSERVER.set(record)
        noting = REFRESH_REASON.set(record.refresh)
        try:
            result = method(self, *args, **kwargs)
        except BaseException as exc:
            _end(self, record, None, exc)
            raise
        finally:
            REFRESH_REASON.reset(noting)
            HTTP_OBSERVER.reset(watching)
        _end(self, record, result, None)
        return result

    setattr(call, _MARK, True)
    return cast(F, call)


def _measured_async(
    api: str, method: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if HTTP_OBSERVER.get() is not None:
            return await method(self, *args, **kwargs)
        record = _begin(self, api, method, args, kwargs)
        watching = HTTP_OBSERVER.set(record)
        noting = REFRESH_REASON.set(record.refresh)
        try:
            result = await method(self, *args, **kwargs)
        except BaseException as exc:
            _end(self, record, None, exc)
            raise
        finally:
            REFRESH_REASON.reset(noting)
            HTTP_OBSERVER.reset(watching)
        _end(self, record, result, None)
        return result

    setattr(call, _MARK, True)
    return call
