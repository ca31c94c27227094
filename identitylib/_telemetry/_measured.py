"""The public-method boundary: each public ``acquire_token*`` call is one measured call.

:class:`MeasuredCalls` is a mixin of the application classes (blocking and asyncio) and of
the managed identity clients. When a class is defined, it wraps every ``acquire_token*``
method the class has (its own and inherited ones, once) so that a call:

* installs the app's totals as the observer of its HTTP
  requests for as long as it runs (with OpenTelemetry, a
  :class:`~identitylib._telemetry._call.Call`, also the slot of its refresh reason);
* adds itself to the app's totals (:meth:`MeasuredCalls.get_token_totals`);
* with OpenTelemetry enabled, has a span and records its metrics.

A public call made by another one (``acquire_token`` calling ``acquire_token_silent``, an
asyncio method running its blocking twin, an override calling ``super()``) is part of the
outer call, not a call of its own. Telemetry never makes a call fail: an error in it is
logged and the call goes on.

A method may name its **cache lane** (:func:`cache_lane`): a function that answers the
call from the cache without any I/O, or says None. Without OpenTelemetry, an outermost
call asks the lane first; its answer is counted in the totals (a token from the cache,
and the time it took) and returned, without the method, the HTTP observer or a plan.
With OpenTelemetry, or when the lane says None, the method runs as above.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional, TypeVar, cast

from identitylib._flows._refresh_reason import REFRESH_REASON
from identitylib._log import get_logger
from identitylib._transport._observe import HTTP_OBSERVER

from . import _names as n
from ._call import Call, Tally, current_call
from ._switch import Switch
from ._totals import THREAD, TokenTotals, Totals, packed_hit

if TYPE_CHECKING:  # pragma: no cover
    from ._otel import Instruments

logger = get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_clock = time.perf_counter
_clock_ns = time.perf_counter_ns

#: Marks a method already wrapped (by a base class).
_MARK = "__identitylib_measured__"
#: The method's cache lane (see :func:`cache_lane`).
_LANE = "__identitylib_cache_lane__"
_TOTALS = "_identitylib_token_totals"
#: The cache-lane hits of the app's first thread to have one (a sum of ``packed_hit``
#: numbers), and that thread's mark: counted in the app object itself, so a hit reads no
#: other object for its count (only that thread writes them; the others count in the
#: totals' rows).
_HITS, _HITS_OWNER = "_identitylib_hits", "_identitylib_hits_owner"
def cache_lane(lane: Callable[..., Any]) -> Callable[[F], F]:
    """Decorator of a public ``acquire_token*`` method: ``lane(self, *args, **kwargs)``
    answers the same call from the cache, without I/O and without calling another public
    method, or returns None (then the method runs). Only the decorated function has the
    lane: a subclass's override of the method is called as it is."""

    def mark(method: F) -> F:
        setattr(method, _LANE, lane)
        return method

    return mark


class MeasuredCalls:
    """Mixin: the public ``acquire_token*`` methods are measured calls (module docstring)."""

    # The totals and the lane's hit count in slots: a cache-lane hit counts itself in
    # the object itself rather than in its attribute values or another object (one object
    # less from memory per hit when apps rotate). Subclasses without ``__slots__`` have a
    # ``__dict__`` as before.
    __slots__ = (_HITS, _HITS_OWNER, _TOTALS)

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
        return totals_of(self).snapshot(getattr(self, _HITS, 0))

    def _telemetry_personal(self) -> bool:
        """Whether personal data (a username) may go into spans: ``enable_pii_log``."""
        return False


_MAKING = threading.Lock()


def totals_of(app: Any) -> Totals:
    """The totals of ``app``, made on first use (an attribute, a slot of
    :class:`MeasuredCalls`: reading ``app.__dict__`` would give every later attribute
    read of the app one more object to go through)."""
    totals: Optional[Totals] = getattr(app, _TOTALS, None)
    if totals is None:
        with _MAKING:
            totals = getattr(app, _TOTALS, None)
            if totals is None:
                totals = Totals()
                setattr(app, _TOTALS, totals)
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


def _start_traced(
    app: Any, api: str, method: Callable[..., Any], args: Any, kwargs: Any, otel: Instruments
) -> Tally:
    """The measurement of a call with OpenTelemetry (a bare :class:`Tally` if it fails)."""
    try:
        personal = None
        if app._telemetry_personal():
            personal = personal_attributes(method, app, args, kwargs)
        return Call(api, otel, personal)
    except Exception:
        logger.warning("Telemetry failed; the call goes on without it", exc_info=True)
        return Tally()


def _count(totals: Totals, seconds: float, result: Any, failed: bool) -> None:
    """Count a call without OpenTelemetry (its HTTP time was added as it went)."""
    try:
        totals.add(result, failed, seconds)
    except Exception:
        logger.warning("Telemetry failed; the call goes on without it", exc_info=True)


def _end(
    app: Any, tally: Tally, seconds: float, result: Any, error: Optional[BaseException]
) -> None:
    """Count the call in the app's totals; with OpenTelemetry, record its signals."""
    tally.close()
    try:
        totals = totals_of(app)
        totals.add(result, error is not None, seconds, tally.http_seconds)
        if isinstance(tally, Call):
            tally.finish(result, error)
    except Exception:
        logger.warning("Telemetry failed; the call goes on without it", exc_info=True)


def measured(api: str, method: F) -> F:
    """``method`` (a function or a coroutine function) as a measured call named ``api``.

    Without OpenTelemetry the app's :class:`Totals` is the observer of the call's HTTP
    requests: nothing is made per call, and HTTP is timed only when a request is sent.

    The wrappers drop their ``args`` and ``kwargs`` before an exception leaves them: a
    crash reporter printing the locals of every frame would otherwise show a password or
    an assertion that the method itself hides (see ``identitylib/_log.py``).
    """
    lane: Optional[Callable[..., Any]] = getattr(method, _LANE, None)
    if inspect.iscoroutinefunction(method):
        return cast(F, _measured_async(api, method, lane))

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if HTTP_OBSERVER.get() is not None:  # inside another public call: part of it
            try:
                return method(self, *args, **kwargs)
            except BaseException:
                del args, kwargs
                raise
        otel = Switch.instruments
        if otel is None:  # the cheap path: the totals only
            begun = _clock_ns()
            if lane is not None:
                try:  # (_served_by_lane's miss, in line)
                    hit = lane(self, *args, **kwargs)
                except Exception:
                    logger.debug("Cache lane failed; the call goes the full way", exc_info=True)
                    hit = None
                if hit is not None:
                    return _counted_hit(self, hit, begun)
            totals = getattr(self, _TOTALS, None) or totals_of(self)
            watching = HTTP_OBSERVER.set(totals)
            try:
                result = method(self, *args, **kwargs)
            except BaseException:
                del args, kwargs
                _count(totals, (_clock_ns() - begun) / 1e9, None, True)
                raise
            finally:
                HTTP_OBSERVER.reset(watching)
            try:  # (_count, in line)
                totals.add(result, False, (_clock_ns() - begun) / 1e9)
            except Exception:
                _telemetry_failed()
            return result
        tally = _start_traced(self, api, method, args, kwargs, otel)
        watching = HTTP_OBSERVER.set(tally)
        noting = REFRESH_REASON.set(tally.refresh) if isinstance(tally, Call) else None
        started = _clock()
        try:
            result = method(self, *args, **kwargs)
        except BaseException as exc:
            del args, kwargs
            _end(self, tally, _clock() - started, None, exc)
            raise
        finally:
            if noting is not None:
                REFRESH_REASON.reset(noting)
            HTTP_OBSERVER.reset(watching)
        _end(self, tally, _clock() - started, result, None)
        return result

    setattr(call, _MARK, True)
    return cast(F, call)


def _counted_hit(app: Any, hit: Any, begun: int) -> Any:
    """``hit``, a cache lane's answer to a call begun at ``begun``, counted in the app's
    totals (a lane that raised or said None: the method runs, and reports bad arguments)."""
    try:
        try:
            if app._identitylib_hits_owner is THREAD.mark:  # (== _HITS_OWNER)
                app._identitylib_hits += packed_hit(_clock_ns() - begun)  # (== _HITS)
                return hit
        except AttributeError:
            _claim_hits(app)
        _count_hit(app, _clock_ns() - begun)
    except Exception:
        _telemetry_failed()
    return hit


def _claim_hits(app: Any) -> None:
    """The current thread counts the app's lane hits in the app, if no thread does."""
    with _MAKING:
        if getattr(app, _HITS_OWNER, None) is None:
            setattr(app, _HITS, 0)
            setattr(app, _HITS_OWNER, THREAD.mark)


def _count_hit(app: Any, nanoseconds: int) -> None:
    if getattr(app, _HITS_OWNER, None) is THREAD.mark:
        setattr(app, _HITS, getattr(app, _HITS) + packed_hit(nanoseconds))
    else:
        totals_of(app).add_cached(nanoseconds)


def _telemetry_failed() -> None:
    logger.warning("Telemetry failed; the call goes on without it", exc_info=True)


def _measured_async(
    api: str, method: Callable[..., Awaitable[Any]], lane: Optional[Callable[..., Any]]
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if HTTP_OBSERVER.get() is not None:  # inside another public call: part of it
            try:
                return await method(self, *args, **kwargs)
            except BaseException:
                del args, kwargs
                raise
        otel = Switch.instruments
        if otel is None:  # the cheap path: the totals only
            begun = _clock_ns()
            if lane is not None:
                try:  # (_served_by_lane's miss, in line)
                    hit = lane(self, *args, **kwargs)
                except Exception:
                    logger.debug("Cache lane failed; the call goes the full way", exc_info=True)
                    hit = None
                if hit is not None:
                    return _counted_hit(self, hit, begun)
            totals = getattr(self, _TOTALS, None) or totals_of(self)
            watching = HTTP_OBSERVER.set(totals)
            try:
                result = await method(self, *args, **kwargs)
            except BaseException:
                del args, kwargs
                _count(totals, (_clock_ns() - begun) / 1e9, None, True)
                raise
            finally:
                HTTP_OBSERVER.reset(watching)
            try:  # (_count, in line)
                totals.add(result, False, (_clock_ns() - begun) / 1e9)
            except Exception:
                _telemetry_failed()
            return result
        tally = _start_traced(self, api, method, args, kwargs, otel)
        watching = HTTP_OBSERVER.set(tally)
        noting = REFRESH_REASON.set(tally.refresh) if isinstance(tally, Call) else None
        started = _clock()
        try:
            result = await method(self, *args, **kwargs)
        except BaseException as exc:
            del args, kwargs
            _end(self, tally, _clock() - started, None, exc)
            raise
        finally:
            if noting is not None:
                REFRESH_REASON.reset(noting)
            HTTP_OBSERVER.reset(watching)
        _end(self, tally, _clock() - started, result, None)
        return result

    setattr(call, _MARK, True)
    return call


class BackgroundRefresh:
    """A background refresh, made where the call that starts it runs (its context).

    :meth:`run` (blocking) or :meth:`run_async` runs the refresh as a measurement of its
    own: counted in the app's totals as a background refresh, and with OpenTelemetry a
    span that is a child of the starting call's span, with the refresh reason
    ``proactive_refresh``, and the acquisition metrics.
    """

    __slots__ = ("_app", "_started_by")

    def __init__(self, app: Any) -> None:
        self._app = app
        self._started_by = current_call()

    def _start(self) -> Tally:
        otel = Switch.instruments
        started_by = self._started_by
        if otel is None or started_by is None:
            return Tally()
        try:
            return Call(started_by.api, otel, None, started_by)
        except Exception:
            logger.warning("Telemetry failed; the refresh goes on without it", exc_info=True)
            return Tally()

    def _end(
        self, tally: Tally, seconds: float, result: Any, error: Optional[BaseException]
    ) -> None:
        tally.close()
        try:
            renewed = (
                error is None
                and isinstance(result, dict)
                and "access_token" in result
                and result.get("token_source") != n.SOURCE_CACHE
            )
            totals_of(self._app).add_background(renewed, seconds)
            if isinstance(tally, Call):
                tally.finish(result, error)
        except Exception:
            logger.warning("Telemetry failed; the refresh goes on without it", exc_info=True)

    def run(self, work: Callable[[], T]) -> T:
        """``work()``, measured as this background refresh."""
        tally = self._start()
        watching = HTTP_OBSERVER.set(tally)
        noting = REFRESH_REASON.set(tally.refresh) if isinstance(tally, Call) else None
        started = _clock()
        try:
            result = work()
        except BaseException as exc:
            self._end(tally, _clock() - started, None, exc)
            raise
        finally:
            if noting is not None:
                REFRESH_REASON.reset(noting)
            HTTP_OBSERVER.reset(watching)
        self._end(tally, _clock() - started, result, None)
        return result

    async def run_async(self, work: Callable[[], Awaitable[T]]) -> T:
        """``await work()``, measured as this background refresh."""
        tally = self._start()
        watching = HTTP_OBSERVER.set(tally)
        noting = REFRESH_REASON.set(tally.refresh) if isinstance(tally, Call) else None
        started = _clock()
        try:
            result = await work()
        except BaseException as exc:
            self._end(tally, _clock() - started, None, exc)
            raise
        finally:
            if noting is not None:
                REFRESH_REASON.reset(noting)
            HTTP_OBSERVER.reset(watching)
        self._end(tally, _clock() - started, result, None)
        return result
