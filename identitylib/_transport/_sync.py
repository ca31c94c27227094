"""The blocking transport: a ``requests.Session`` or any MSAL-style ``http_client``.

Every request goes through the same steps:

1. **Throttle** (``_throttle.py``): an identical POST that recently failed with a 429 or a
   400 is answered from memory (or the app's ``http_cache``) without a request.
2. **Send**, with identitylib's own session: a finite (connect, read) timeout
   (:data:`DEFAULT_TIMEOUT` unless the app gave ``timeout=``), the app's ``verify=`` passed
   per request (so ``REQUESTS_CA_BUNDLE`` cannot override it), no redirects on POST, and
   the body streamed and cut at :data:`MAX_BODY` bytes (a longer body becomes an
   ``invalid_response`` error result) within the read timeout and the request's deadline
   (``_bounds.py``). A ``requests.Session`` given as ``http_client`` gets
   ``allow_redirects=False`` on POST as well; any other ``http_client`` is called exactly as
   MSAL calls it (no ``timeout``, ``stream`` or ``verify`` keywords forced), and so is the
   own session's ``get`` or ``post`` once an app (or a test) replaced it, as msal's
   ``app.http_client`` allows: only ``status_code``, ``text`` and ``headers`` of what it
   returns are read.
3. **Retry** (``_policy.py``), with identitylib's own session: once, with jitter, after an
   error before the request left, a 429 or 503 with ``Retry-After``, and (only for requests
   without a one-time credential) a dropped connection or another 5xx; never past the
   request's deadline (:data:`DEFAULT_DEADLINE` in all). Retries sleep in small slices via
   ``time.sleep``. An app's ``http_client`` is not retried (its retries are its own, as in
   msal) unless ``retry=`` is given.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Hashable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from identitylib._flows._single_flight import joined
from identitylib._log import get_logger, safe_url
from identitylib._protocol._messages import (
    WAITED,
    CacheHook,
    Flow,
    HttpRequest,
    HttpResponse,
    Wait,
)
from identitylib._protocol._token_response import MAX_BODY, TRUNCATED_HEADER

from ._accesses import OpenAccesses
from ._bounds import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    BodyReader,
    Clock,
    Deadline,
    Timeout,
    deadline_for,
    split_timeout,
)
from ._observe import HTTP_OBSERVER
from ._policy import DEFAULT_RETRY_POLICY, NO_RETRY, ErrorKind, RetryPolicy, answer_decision
from ._throttle import Throttle

if TYPE_CHECKING:  # pragma: no cover
    from identitylib._flows._single_flight import Flight, SingleFlight

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_TIMEOUT",
    "SyncTransport",
    "Timeout",
    "classify_requests_error",
    "normalise_response",
    "run_sync",
]

logger = get_logger(__name__)
T = TypeVar("T")

#: Longest single sleep while waiting to retry (so a waiting thread stays responsive).
SLEEP_SLICE = 0.25


def detached(exc: BaseException) -> BaseException:
    """``exc`` without the frames of the HTTP library below the transport.

    Those frames (urllib3's, http.client's) hold the encoded request in their locals: the
    form body with a client secret, a refresh token or a code, and the headers. A crash
    reporter that prints locals (Sentry, ``pytest -l``, ``capture_locals=True``) would show
    them. The exceptions themselves, their messages and their chain (which
    :func:`classify_requests_error` reads) are kept; only the tracebacks go.
    """
    seen: set[int] = {id(exc)}
    pending: list[Any] = [*exc.args, getattr(exc, "reason", None), exc.__cause__, exc.__context__]
    while pending:
        inner = pending.pop()
        if not isinstance(inner, BaseException) or id(inner) in seen:
            continue
        seen.add(id(inner))
        inner.__traceback__ = None
        pending.extend((*inner.args, getattr(inner, "reason", None)))
        pending.extend((inner.__cause__, inner.__context__))
    return exc.with_traceback(None)


def classify_requests_error(exc: BaseException) -> ErrorKind:
    """Sort an exception raised by ``requests`` (or urllib3, or an app's ``http_client``)
    into an :data:`~identitylib._transport._policy.ErrorKind` (see ``_requests.py``)."""
    from ._requests import classify_requests_error as classify

    return classify(exc)


def _check_client(client: Any) -> None:
    if not (callable(getattr(client, "post", None)) and callable(getattr(client, "get", None))):
        raise TypeError(
            "http_client must have get(url, params=, headers=, **kwargs) and "
            "post(url, params=, data=, headers=, **kwargs) methods, e.g. a requests.Session"
        )


def _is_requests_session(client: Any) -> bool:
    """Whether ``client`` is a ``requests.Session`` (never, while requests is not loaded)."""
    requests = sys.modules.get("requests")
    return requests is not None and isinstance(client, requests.Session)


def sleep_in_slices(
    seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.monotonic,
) -> None:
    """Sleep ``seconds`` in slices of at most :data:`SLEEP_SLICE`, as ``clock`` tells."""
    deadline = clock() + max(0.0, seconds)
    while True:
        left = deadline - clock()
        if left <= 0:
            return
        sleep(min(SLEEP_SLICE, left))


class SyncTransport:
    """Sends :class:`HttpRequest` objects with an MSAL-compatible ``http_client``.

    ``http_client`` needs ``post(url, params=, data=, headers=, **kw)`` and
    ``get(url, params=, headers=, **kw)`` returning an object with ``status_code``, ``text``
    and ``headers``. Without one, a ``requests.Session`` is made with ``verify``,
    ``proxies`` and ``timeout`` (default :data:`DEFAULT_TIMEOUT`). ``retry`` is the
    :class:`RetryPolicy` (default: :data:`DEFAULT_RETRY_POLICY` for the own session, none
    for an app's ``http_client``); ``http_cache`` keeps throttling records (in memory without it),
    unless ``throttle`` is given (e.g. a ``NoThrottle`` for a caller that throttles itself);
    ``max_body`` caps response bodies read by the own session, in bytes. ``deadline`` bounds
    one request with the own session, every attempt and wait included (default: derived from
    ``timeout`` by :func:`~identitylib._transport._bounds.deadline_for`, so
    :data:`DEFAULT_DEADLINE` with the default timeout). ``follow_redirects=False`` refuses
    redirects on GET too (the own session and a ``requests.Session``); ``trust_env=False``
    makes the own session ignore proxy and CA settings of the environment.
    """

    def __init__(
        self,
        http_client: Any = None,
        *,
        verify: Any = True,
        proxies: Mapping[str, str] | None = None,
        timeout: Timeout = None,
        retry: Optional[RetryPolicy] = None,
        http_cache: Optional[MutableMapping[Any, Any]] = None,
        max_body: int = MAX_BODY,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Optional[float] = None,
        follow_redirects: bool = True,
        trust_env: bool = True,
        clock: Clock = time.monotonic,
        throttle: Optional[Throttle] = None,
    ) -> None:
        self._owns_client = http_client is None
        #: The own session's methods as made: one an app replaced is called as msal calls
        #: an http_client (see :meth:`replaced`).
        self._own_methods: dict[str, Any] = {}
        if not self._owns_client:
            _check_client(http_client)
        self._client: Any = http_client  # the own session is made on first use
        #: Whether an app's ``http_client`` is a ``requests.Session`` (told once: a
        #: session exists only once requests is loaded).
        self._client_is_session = _is_requests_session(http_client)
        self._session_options = (verify, proxies, trust_env)
        self._making = threading.Lock()  # one own session, whichever thread asks first
        self._verify = verify
        self._timeout: Timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self._deadline: Optional[float] = deadline_for(timeout) if deadline is None else deadline
        self._follow = follow_redirects
        self._clock = clock
        #: The deadline of a request an app's ``http_client`` sends (none: its own bounds).
        self._endless = Deadline.after(None, clock)
        # An app's own http_client is used as given (its retries are its own, as in msal
        # and as in the asyncio transport) unless a policy is passed explicitly.
        self.retry = (
            retry
            if retry is not None
            else (DEFAULT_RETRY_POLICY if self._owns_client else NO_RETRY)
        )
        #: The policy for a replaced get/post of the own session: an app's http_client's.
        self._replaced_retry = retry if retry is not None else NO_RETRY
        self.throttle = Throttle(http_cache) if throttle is None else throttle
        self.max_body = max_body
        self._sleep = sleep

    @property
    def http_client(self) -> Any:
        """The app's ``http_client``, or identitylib's own ``requests.Session``, made (and
        ``requests`` imported) the first time it is needed."""
        client = self._client
        if client is None:
            with self._making:
                if self._client is None:
                    from ._requests import default_session

                    session = default_session(*self._session_options)
                    # Its methods first: a thread that sees the session sees them too.
                    self._own_methods = {"GET": session.get, "POST": session.post}
                    self._client = session
                client = self._client
        return client

    @http_client.setter
    def http_client(self, client: Any) -> None:
        """Send with ``client`` from now on, as an app's ``http_client`` (msal's apps may
        assign ``app.http_client``): called as given, retried only by an explicit policy."""
        _check_client(client)
        self._client, self._owns_client, self._own_methods = client, False, {}
        self._client_is_session = _is_requests_session(client)
        self.retry = self._replaced_retry

    def close(self) -> None:
        """Close identitylib's own session, if it was made (an app's client is the app's)."""
        if self._owns_client and self._client is not None:
            self._client.close()

    def replaced(self, method: str) -> bool:
        """Whether the own session's ``get`` (``method`` "GET") or ``post`` ("POST") is no
        longer the session's own, e.g. patched by a test as msal's users do."""
        if self._client is None:
            return False  # not made yet: nothing could replace its methods
        own = self._own_methods.get(method)
        if own is None:
            return False
        current = getattr(self.http_client, "post" if method == "POST" else "get", None)
        return bool(current != own)

    def _sends_itself(self, method: str) -> bool:
        """Whether identitylib's own session sends this request (streamed, bounded)."""
        return self._owns_client and not self.replaced(method)

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request (throttled, retried) and return its normalised response.

        The usual request (nothing the throttle could replay, a final answer that it does
        not remember, a policy that retries no such answer) asks neither of them."""
        observer = HTTP_OBSERVER.get()
        throttle = self.throttle
        if throttle.may_replay:
            replay = throttle.check(request)
            if replay is not None:
                if observer is not None:
                    observer.replayed(request, replay)
                return replay
        # (_sends_itself, in line: an app's http_client is told without a call)
        itself = self._owns_client and not self.replaced(request.method)
        policy = self.retry if itself or not self._owns_client else self._replaced_retry
        deadline = Deadline.after(self._deadline, self._clock) if itself else self._endless
        attempt = 1
        while True:
            watch = None if observer is None else observer.attempt(request, attempt - 1)
            try:
                response = self._send_once(request, deadline, itself)
            except Exception as exc:
                if watch is not None:
                    watch.failed(exc)
                decision = policy.after_error(
                    request.method,
                    classify_requests_error(exc),
                    attempt,
                    one_time=request.one_time,
                    time_left=deadline.left(),
                )
                if not decision.retry:
                    if decision.reason:
                        logger.info("Not retrying %s: %s", safe_url(request.url), decision.reason)
                    raise
                logger.warning(
                    "HTTP %s %s failed (%s); retrying in %.2f s",
                    request.method,
                    safe_url(request.url),
                    type(exc).__name__,
                    decision.wait,
                )
            else:
                if watch is not None:
                    watch.answered(response)
                status = response.status_code
                decision = answer_decision(policy, request, response, attempt, deadline)
                if not decision.retry:
                    if decision.reason:
                        logger.info("Not retrying %s: %s", safe_url(request.url), decision.reason)
                    if throttle.statuses is None or status in throttle.statuses:
                        throttle.record(request, response)
                    return response
                logger.warning(
                    "HTTP %s %s answered %s; retrying in %.2f s",
                    request.method,
                    safe_url(request.url),
                    status,
                    decision.wait,
                )
            sleep_in_slices(decision.wait, self._sleep, self._clock)
            attempt += 1

    def send_once(self, request: HttpRequest, deadline: Optional[Deadline] = None) -> HttpResponse:
        """One attempt, no throttling and no retry, over by ``deadline`` (own session)."""
        itself = self._sends_itself(request.method)
        if deadline is None:
            deadline = Deadline.after(self._deadline, self._clock) if itself else self._endless
        return self._send_once(request, deadline, itself)

    def _send_once(self, request: HttpRequest, deadline: Deadline, itself: bool) -> HttpResponse:
        """``send_once``, knowing whether the own session sends it (``itself``)."""
        kwargs: dict[str, Any] = {"params": request.params, "headers": dict(request.headers)}
        follow = self._follow and request.method == "GET"
        client = self._client
        if client is None:
            client = self.http_client
        if itself:
            # Passed per request so REQUESTS_CA_BUNDLE cannot override an explicit verify=.
            kwargs["timeout"] = deadline.timeout(self._timeout)
            kwargs["verify"] = self._verify
            kwargs["allow_redirects"] = follow
            kwargs["stream"] = True
        elif not self._owns_client and not follow and self._client_is_session:
            # requests would repost the form (client secret included) to a 307/308 target.
            kwargs["allow_redirects"] = False
        try:
            if request.method == "POST":
                body = request.data if request.content is None else request.content  # (.body)
                raw = client.post(request.url, data=body, **kwargs)
            else:
                raw = client.get(request.url, **kwargs)
            if itself:
                from ._requests import read_bounded

                read_timeout = split_timeout(self._timeout)[1]
                reader = BodyReader(self.max_body, deadline.body_until(read_timeout), self._clock)
                return read_bounded(raw, reader, read_timeout or 0.0)
        except Exception as exc:
            raise detached(exc)  # noqa: B904 - the same exception, its chain kept
        return normalise_response(raw)


def normalise_response(raw: Any) -> HttpResponse:
    """Turn whatever an http_client returned into an :class:`HttpResponse`."""
    status = getattr(raw, "status_code", 0)
    text = getattr(raw, "text", "")
    headers = getattr(raw, "headers", None) or {}
    if type(status) is not int and (not isinstance(status, int) or isinstance(status, bool)):
        status = 0
    if type(text) is not str:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not isinstance(text, str):
            text = ""
    lowered: dict[str, str] = {}
    try:
        for k, v in headers.items():  # (a loop: a comprehension costs a frame)
            lowered[(k if type(k) is str else str(k)).lower()] = v if type(v) is str else str(v)
    except AttributeError:
        lowered = {}
    lowered.pop(TRUNCATED_HEADER, None)  # only identitylib's own reader may set it
    return HttpResponse(status, text, lowered)


def run_sync(
    flow: Flow[T],
    transport: SyncTransport,
    *,
    sleep: Callable[[float], None] = time.sleep,
    flights: Optional[SingleFlight] = None,
    key: Hashable = None,
    again: Optional[Callable[[], Flow[T]]] = None,
) -> T:
    """Drive a flow to completion, sending each request it yields through ``transport``.

    A transport exception is thrown into the flow, which may recover (e.g. fall back to a
    cached token) or let it propagate to the caller. ``Wait`` steps call ``sleep``
    (injectable, as the retry policy's clock is). ``CacheHook`` steps open and close the
    cache's access (its hooks, its lock) in this thread; a failing hook is thrown into the
    flow, and an access left open by a failure is closed here. A cache whose hooks are
    coroutines is refused with :class:`TypeError`.

    With ``flights`` (and ``key``, and ``again``, which makes the same flow afresh) the
    flow's I/O is shared with concurrent callers of the same key, as
    :meth:`SingleFlight.coalesce` shares it, without a generator between this driver and
    the flow: a flow that ends at its first step (a cache hit) joins no flight; else the
    caller joins ``key``'s flight at that step, as its leader, or as a follower that drops
    its flow, waits for the leader, and runs ``again()`` on its own.
    """
    accesses: Optional[OpenAccesses] = None  # (made at the flow's first cache access)
    flight: Optional[Flight] = None
    try:
        if flights is None:
            step = next(flow)
        else:
            flow, step, flight = joined(flights, key, flow, again)  # type: ignore[arg-type]
        while True:
            if isinstance(step, Wait):
                sleep(max(0.0, step.seconds))
                step = flow.send(WAITED)
                continue
            try:
                if isinstance(step, CacheHook):
                    if step.entering:
                        if accesses is None:
                            accesses = OpenAccesses()
                        accesses.enter(step)
                    elif accesses:
                        accesses.exit_last()
                    response = WAITED
                else:
                    response = transport.send(step)
            except Exception as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        flow.close()
        if flight is not None:
            flights.leave(key, flight)  # type: ignore[union-attr]
        if accesses is not None:
            accesses.exit_all()  # the flow ended (failed) inside a cache access
