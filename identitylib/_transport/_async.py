"""The asyncio transport (``httpx.AsyncClient``) and :func:`run_async`, the asyncio driver.

:func:`run_async` mirrors :func:`~identitylib._transport._sync.run_sync`: it drives the same
sans-I/O flows, sending each :class:`HttpRequest` with ``await transport.send(...)``, turning
each :class:`Wait` into ``await asyncio.sleep(...)`` and throwing transport exceptions into
the flow at its ``yield``, and performing each :class:`CacheHook` (a cache access opened or
closed). With ``offload=True`` each step of the flow (the code between two yields: cache
lookups and writes) and each blocking access hook run in one worker thread of the run, for
caches whose hooks block (files, Redis).

``httpx`` is imported lazily: it is the optional extra ``identitylib[async]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

from identitylib._cache._own import has_async_hooks
from identitylib._log import get_logger, safe_url
from identitylib._protocol._messages import (
    WAITED,
    CacheHook,
    Flow,
    HttpRequest,
    HttpResponse,
    Step,
    Wait,
)
from identitylib._protocol._token_response import MAX_BODY

from ._accesses import OpenAccesses
from ._bounds import (
    DEFAULT_TIMEOUT,
    BodyReader,
    Clock,
    Deadline,
    Fed,
    Timeout,
    deadline_for,
    late_message,
    split_timeout,
)
from ._observe import HTTP_OBSERVER
from ._policy import DEFAULT_RETRY_POLICY, STOP, ErrorKind, RetryPolicy, answer_decision
from ._sync import SyncTransport
from ._throttle import Throttle

if TYPE_CHECKING:  # pragma: no cover
    import httpx

logger = get_logger(__name__)
T = TypeVar("T")
R = TypeVar("R")

_MISSING_HTTPX = (
    "identitylib.aio needs httpx: pip install 'identitylib[async]' (or pip install httpx)"
)


def import_httpx() -> Any:
    """The httpx module, or ImportError naming the extra to install."""
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_MISSING_HTTPX) from exc
    return httpx


def ssl_context(verify: Any) -> Union[ssl.SSLContext, bool]:
    """What ``verify=`` (MSAL's meaning: True, False, a CA bundle path) means for httpx."""
    if verify is False:
        return False
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    httpx = import_httpx()
    context: ssl.SSLContext = httpx.create_ssl_context()
    return context


def httpx_timeout(timeout: Timeout) -> Any:
    """An ``httpx.Timeout`` from a requests-style timeout (seconds or (connect, read))."""
    httpx = import_httpx()
    value = DEFAULT_TIMEOUT if timeout is None else timeout
    if isinstance(value, tuple):
        connect, read = value
        return httpx.Timeout(read, connect=connect)
    return httpx.Timeout(value)


def classify_httpx_error(exc: BaseException) -> ErrorKind:
    """Sort an httpx exception into a retry policy's :data:`ErrorKind`."""
    httpx = import_httpx()
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return "other"  # a TLS failure would fail again
    if isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
    ):
        return "connect"  # the request never left
    if isinstance(exc, httpx.TimeoutException):
        return "read"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "dropped"  # the server may have read the request
    return "other"


class AsyncTransport:
    """Sends :class:`HttpRequest` objects with httpx, without blocking the event loop.

    ``http_client`` may be an ``httpx.AsyncClient`` (used as given: its timeouts, proxies
    and TLS settings are yours) or ``None``: then identitylib makes one client per event
    loop with ``verify``, ``proxies`` and ``timeout`` (default :data:`DEFAULT_TIMEOUT`),
    and retries as :data:`~identitylib._transport._policy.DEFAULT_RETRY_POLICY` says.
    Token POSTs never follow redirects; GETs (discovery) do, unless ``follow_redirects``
    is False. Bodies are streamed and cut at ``max_body`` bytes, with an app's client too;
    with identitylib's own client the body of an attempt must arrive within the read
    timeout, and the whole request (retries and their waits included) within ``deadline``
    seconds (default: :func:`~identitylib._transport._bounds.deadline_for` the timeout),
    exactly as with the blocking transport (``_bounds.py`` is shared).

    ``throttle`` answers an identical failing token POST locally for a while, exactly as
    :class:`~identitylib._transport._sync.SyncTransport` does (see ``_throttle.py``), with
    an app's ``httpx.AsyncClient`` too. ``None``: a private in-memory :class:`Throttle`;
    an application passes its sync core's, so sync and async calls share records (and the
    app's ``http_cache``). When that throttle keeps records in an ``http_cache`` (possibly a
    ``shelve`` on disk), its reads and writes run in a worker thread, never on the loop.
    """

    def __init__(
        self,
        http_client: Any = None,
        *,
        verify: Any = True,
        proxies: Optional[Mapping[str, str]] = None,
        timeout: Timeout = None,
        retry_policy: Optional[RetryPolicy] = None,
        trust_env: bool = True,
        follow_redirects: bool = True,
        throttle: Optional[Throttle] = None,
        max_body: int = MAX_BODY,
        deadline: Optional[float] = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        httpx = import_httpx()
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError("http_client must be an httpx.AsyncClient (or None)")
        self._given = http_client
        self._verify = ssl_context(verify) if http_client is None else verify
        self._proxies = dict(proxies or {})
        self._timeout = httpx_timeout(timeout)
        bounds: Timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self._read_timeout = split_timeout(bounds)[1] if http_client is None else None
        self._deadline: Optional[float] = None
        if http_client is None:
            self._deadline = deadline_for(timeout) if deadline is None else deadline
        self.max_body = max_body
        self._clock = clock
        self._sleep = sleep
        self._policy = retry_policy if http_client is None else None
        if self._policy is None and http_client is None:
            self._policy = DEFAULT_RETRY_POLICY
        self._trust_env = trust_env
        self._follow = follow_redirects
        self.throttle = Throttle() if throttle is None else throttle
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def http_client(self) -> Any:
        """The ``httpx.AsyncClient`` given, or None when identitylib makes its own."""
        return self._given

    def _client(self) -> httpx.AsyncClient:
        if self._given is not None:
            given: httpx.AsyncClient = self._given
            return given
        loop = asyncio.get_running_loop()
        client: Optional[httpx.AsyncClient] = self._clients.get(loop)
        if client is None:
            httpx = import_httpx()
            mounts = {
                f"{scheme}://": httpx.AsyncHTTPTransport(proxy=url, verify=self._verify)
                for scheme, url in self._proxies.items()
                if scheme in ("http", "https") and url
            }
            client = httpx.AsyncClient(
                verify=self._verify,
                timeout=self._timeout,
                trust_env=self._trust_env,
                mounts=mounts or None,
            )
            self._clients[loop] = client
        return client

    async def _send_once(self, request: HttpRequest, deadline: Deadline) -> HttpResponse:
        left = deadline.cap(None)
        if left is None:
            return await self._stream(request, deadline)
        try:
            # The whole attempt (connect, headers, body) within the time left: a server that
            # drips its headers is bounded here as well.
            return await asyncio.wait_for(self._stream(request, deadline), max(left, 0.001))
        except asyncio.TimeoutError:
            httpx = import_httpx()
            raise httpx.ReadTimeout(late_message(self._deadline or 0.0)) from None

    async def _stream(self, request: HttpRequest, deadline: Deadline) -> HttpResponse:
        client = self._client()
        follow = self._follow and request.method == "GET"
        is_form = request.method == "POST" and request.content is None
        outgoing = client.build_request(
            request.method,
            request.url,
            params=dict(request.params) if request.params else None,
            data=dict(request.data or {}) if is_form else None,
            content=request.content if request.method == "POST" else None,
            headers=dict(request.headers),
        )
        raw = await client.send(outgoing, stream=True, follow_redirects=follow)
        try:
            reader = BodyReader(self.max_body, deadline.body_until(self._read_timeout), self._clock)
            async for chunk in raw.aiter_bytes():
                fed = reader.feed(chunk)
                if fed is Fed.FULL:
                    break
                if fed is Fed.LATE:
                    httpx = import_httpx()
                    raise httpx.ReadTimeout(late_message(self._read_timeout or 0.0))
        finally:
            await raw.aclose()
        return reader.response(
            int(raw.status_code), raw.headers.multi_items(), raw.charset_encoding, request.url
        )

    # The throttle decides what it remembers; its http_cache (maybe a shelve) is touched
    # in a worker thread. The in-memory store is a dict behind a briefly held lock: inline.
    async def _check_throttle(self, request: HttpRequest) -> Optional[HttpResponse]:
        if self.throttle.uses_http_cache:
            return await asyncio.to_thread(self.throttle.check, request)
        return self.throttle.check(request)

    async def _record_throttle(self, request: HttpRequest, response: HttpResponse) -> None:
        if self.throttle.uses_http_cache:
            await asyncio.to_thread(self.throttle.record, request, response)
        else:
            self.throttle.record(request, response)

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request (throttled, retried per the policy); return its normalised response.

        The usual request (nothing the throttle could replay, a final answer that it does
        not remember, a policy that retries no such answer) asks neither of them."""
        observer = HTTP_OBSERVER.get()
        throttle = self.throttle
        if throttle.may_replay:
            replay = await self._check_throttle(request)
            if replay is not None:
                if observer is not None:
                    observer.replayed(request, replay)
                return replay
        policy = self._policy
        deadline = Deadline.after(self._deadline, self._clock)
        attempt = 1
        while True:
            watch = None if observer is None else observer.attempt(request, attempt - 1)
            try:
                response = await self._send_once(request, deadline)
            except Exception as exc:
                if watch is not None:
                    watch.failed(exc)
                if policy is None:
                    raise
                decision = policy.after_error(
                    request.method,
                    classify_httpx_error(exc),
                    attempt,
                    one_time=request.one_time,
                    time_left=deadline.left(),
                )
                if not decision.retry:
                    raise
            else:
                if watch is not None:
                    watch.answered(response)
                status = response.status_code
                decision = (
                    STOP  # (no policy: every answer is final)
                    if policy is None
                    else answer_decision(policy, request, response, attempt, deadline)
                )
                if not decision.retry:
                    # The final answer (retries done) is what the throttle may remember.
                    if throttle.statuses is None or status in throttle.statuses:
                        await self._record_throttle(request, response)
                    return response
            logger.debug("Retrying %s %s in %.2f s: %s", request.method, safe_url(request.url),
                         decision.wait, decision.reason)  # fmt: skip
            await self._sleep(decision.wait)
            attempt += 1

    async def aclose(self) -> None:
        """Close the clients identitylib made (never a client you passed in)."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            with contextlib.suppress(RuntimeError):  # made in another, now closed, loop
                await client.aclose()


class ThreadedTransport:
    """An MSAL-style blocking ``http_client`` (or a :class:`SyncTransport`) used from asyncio:
    each request is sent in a worker thread, so the event loop never waits on it."""

    def __init__(self, transport: Union[SyncTransport, Any]) -> None:
        self._transport = (
            transport if isinstance(transport, SyncTransport) else SyncTransport(transport)
        )

    @property
    def http_client(self) -> Any:
        """The blocking client requests are sent with."""
        return self._transport.http_client

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request in a worker thread."""
        return await asyncio.to_thread(self._transport.send, request)

    async def aclose(self) -> None:
        """Nothing to close: the blocking client belongs to its owner."""


class _Done:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _advance(step: Callable[..., Step], *args: Any) -> Union[Step, _Done]:
    # StopIteration cannot cross a Future (nor leave a worker thread): turn it into a value.
    try:
        return step(*args)
    except StopIteration as stop:
        return _Done(stop.value)


async def run_async(
    flow: Flow[T],
    transport: Any,
    *,
    offload: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Drive a flow to completion over an async ``transport`` (``await transport.send(r)``).

    ``Wait`` steps await ``sleep`` (``asyncio.sleep`` unless injected); a transport
    exception is thrown into the flow, which may recover or let it propagate. ``CacheHook``
    steps open and close the cache's access: coroutine hooks are awaited on the loop,
    blocking ones run where the flow's steps run. With ``offload`` that is one worker
    thread of this run (each call with a copy of the context), so a blocking access takes
    and releases the cache's lock in one thread and never stalls the loop. An access left
    open by a failure or a cancellation is closed here, in that same thread, before the
    run ends (a second cancellation does not cut that short).
    """
    executor = (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="identitylib-flow")
        if offload
        else None
    )

    async def on_thread(work: Callable[..., R], *args: Any) -> R:
        if executor is None:
            return work(*args)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(executor, context.run, work, *args)

    async def cache_hook(step: CacheHook) -> None:
        if step.entering:
            if has_async_hooks(step.cache):
                await accesses.enter_async(step)
            else:
                await on_thread(accesses.enter, step)
        elif accesses:
            await close_innermost()

    async def close_innermost() -> None:
        if accesses.innermost_is_async():
            await accesses.exit_last_async()
        else:
            await on_thread(accesses.exit_last)

    async def wind_up() -> None:
        try:
            await on_thread(flow.close)  # after any step still running in the thread
            while accesses:  # the flow ended (failed, cancelled) inside a cache access
                await close_innermost()
        finally:
            if executor is not None:
                executor.shutdown(wait=False)

    accesses = OpenAccesses()
    try:
        current = await on_thread(_advance, next, flow)
        while not isinstance(current, _Done):
            if isinstance(current, Wait):
                await sleep(max(0.0, current.seconds))
                current = await on_thread(_advance, flow.send, WAITED)
                continue
            try:
                if isinstance(current, CacheHook):
                    await cache_hook(current)
                    response = WAITED
                else:
                    response = await transport.send(current)
            except Exception as exc:
                current = await on_thread(_advance, flow.throw, exc)
            else:
                current = await on_thread(_advance, flow.send, response)
        return current.value  # type: ignore[no-any-return]
    finally:
        if executor is None and not accesses:
            flow.close()
        else:
            await asyncio.shield(asyncio.ensure_future(wind_up()))
