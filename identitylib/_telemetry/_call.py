"""One public call being measured: its HTTP attempts, its outcome, its signals.

A :class:`Call` is the :class:`~identitylib._transport._observe.HttpObserver` of the call
and the slot its flows note their refresh reason in; with OpenTelemetry enabled it also
holds the call's span and opens a child span per HTTP attempt. What it records never
includes a token, secret, code, assertion or query string; personal data (a username)
only when the app allows it (``enable_pii_log=True``).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from identitylib._flows._refresh_reason import RefreshReason
from identitylib._log import safe_url
from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._transport._observe import HTTP_OBSERVER, Attempt
from identitylib._transport._policy import header

from . import _names as n

if TYPE_CHECKING:  # pragma: no cover
    from ._otel import CallSpan, Instruments

_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def error_code(value: object) -> str:
    """An OAuth ``error`` as an ``error.type`` value: the code if it looks like one, else
    :data:`~identitylib._telemetry._names.OTHER_ERROR` (a hostile server's free text
    never becomes an attribute)."""
    text = str(value)
    return text if _ERROR_CODE.fullmatch(text) else n.OTHER_ERROR


def exception_type(error: BaseException) -> str:
    """``error.type`` of an exception: its fully qualified class name."""
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def request_attributes(request: HttpRequest) -> dict[str, Any]:
    """The semantic conventions' attributes of a request, its URL without query,
    fragment, user info and the username of a user realm discovery."""
    attributes: dict[str, Any] = {n.HTTP_METHOD: request.method.upper()}
    try:
        parts = urlsplit(str(request.url))
        host, port = parts.hostname, parts.port
    except ValueError:
        return attributes
    if host:
        attributes[n.SERVER_ADDRESS] = host
        attributes[n.SERVER_PORT] = port or (443 if parts.scheme == "https" else 80)
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        attributes[n.URL_FULL] = safe_url(parts._replace(netloc=netloc).geturl())
    return attributes


class _Ignored:
    """An attempt nobody records (its call has ended: a background refresh)."""

    def answered(self, response: HttpResponse) -> None:
        """Nothing to record."""

    def failed(self, error: BaseException) -> None:
        """Nothing to record."""


IGNORED = _Ignored()


class _Timing:
    """One HTTP attempt of a :class:`Tally`: its duration only."""

    __slots__ = ("_started", "_tally")

    def __init__(self, tally: Tally) -> None:
        self._tally = tally
        self._started = time.perf_counter()

    def answered(self, response: HttpResponse) -> None:
        """The attempt is over."""
        self._tally.http_seconds += time.perf_counter() - self._started
        self._tally.requests += 1

    def failed(self, error: BaseException) -> None:
        """The attempt is over."""
        self._tally.http_seconds += time.perf_counter() - self._started
        self._tally.requests += 1


class Tally:
    """The HTTP time of one public call, without OpenTelemetry (for the app's totals)."""

    __slots__ = ("_open", "http_seconds", "requests")

    def __init__(self) -> None:
        self.http_seconds = 0.0
        self.requests = 0
        self._open = True

    def attempt(self, request: HttpRequest, resend_count: int) -> Attempt:
        """An attempt of ``request`` starts."""
        return _Timing(self) if self._open else IGNORED

    def replayed(self, request: HttpRequest, response: HttpResponse) -> None:
        """Nothing to count: no request was sent."""

    def close(self) -> None:
        """The call is over: a background refresh it started is not part of it."""
        self._open = False


class _Attempt:
    """One HTTP attempt of a :class:`Call`."""

    __slots__ = ("_attributes", "_call", "_resend_count", "_span", "_started")

    def __init__(self, call: Call, request: HttpRequest, resend_count: int) -> None:
        self._call = call
        self._resend_count = resend_count
        self._attributes: Optional[dict[str, Any]] = None
        self._span: Any = None
        otel = call.otel
        if otel is not None:
            self._attributes = request_attributes(request)
            if resend_count:
                self._attributes[n.HTTP_RESEND_COUNT] = resend_count
            self._span = otel.start_attempt(
                call.span, self._attributes[n.HTTP_METHOD], self._attributes
            )
        self._started = time.perf_counter()

    def answered(self, response: HttpResponse) -> None:
        """The server answered ``response``."""
        status = response.status_code
        throttled = status == 429 or (
            status == 503 and header(response.headers, "retry-after") is not None
        )
        error = str(status) if status >= 400 or status < 100 else None
        self._done({n.HTTP_STATUS: status} if status else {}, error, throttled)

    def failed(self, error: BaseException) -> None:
        """The attempt raised ``error``."""
        self._done({}, exception_type(error), False)

    def _done(self, outcome: dict[str, Any], error: Optional[str], throttled: bool) -> None:
        seconds = time.perf_counter() - self._started
        call = self._call
        call.http_seconds += seconds
        call.requests += 1
        otel = call.otel
        if otel is None or self._attributes is None:
            return
        attributes = self._attributes
        attributes.update(outcome)
        if error is not None:
            attributes[n.ERROR_TYPE] = error
        otel.end_attempt(self._span, attributes, error)
        metric = {k: v for k, v in attributes.items() if k != n.URL_FULL}
        otel.request_duration.record(seconds, metric)
        brief = {k: metric[k] for k in (n.HTTP_METHOD, n.SERVER_ADDRESS) if k in metric}
        if self._resend_count:
            otel.retries.add(1, brief)
        if throttled:
            otel.throttled.add(1, {**brief, n.THROTTLED_BY: "server"})


class Call(Tally):
    """The measurement of one public call with OpenTelemetry (see the module docstring)."""

    __slots__ = ("api", "managed_identity_source", "otel", "refresh", "span", "started")

    def __init__(
        self,
        api: str,
        otel: Instruments,
        personal: Optional[dict[str, Any]],
        started_by: Optional[Call] = None,
    ) -> None:
        """``started_by``: this is the background refresh that call started."""
        super().__init__()
        self.api = api
        self.otel: Optional[Instruments] = otel
        self.refresh = RefreshReason()
        self.managed_identity_source: Optional[str] = None
        attributes: dict[str, Any] = {n.API: api, **(personal or {})}
        parent = None
        if started_by is not None:
            attributes[n.BACKGROUND] = True
            self.refresh.reason = n.PROACTIVE_REFRESH
            self.managed_identity_source = started_by.managed_identity_source
            parent = started_by.span
        self.span: Optional[CallSpan] = otel.start_call(api, attributes, parent)
        self.started = time.perf_counter()

    def attempt(self, request: HttpRequest, resend_count: int) -> Attempt:
        """An attempt of ``request`` starts: a child span."""
        if not self._open:
            return IGNORED
        return _Attempt(self, request, resend_count)

    def replayed(self, request: HttpRequest, response: HttpResponse) -> None:
        """The client's throttle answered ``request`` from memory."""
        otel = self.otel
        if not self._open or otel is None:
            return
        attributes = request_attributes(request)
        attributes[n.HTTP_STATUS] = response.status_code
        if self.span is not None:
            self.span.event("identitylib.throttled_locally", attributes)
        brief = {k: attributes[k] for k in (n.HTTP_METHOD, n.SERVER_ADDRESS) if k in attributes}
        otel.throttled.add(1, {**brief, n.THROTTLED_BY: "client"})

    def finish(self, result: Any = None, error: Optional[BaseException] = None) -> None:
        """Close the call and record its signals."""
        seconds = time.perf_counter() - self.started
        self.close()
        source, outcome, error_type = self._outcome(result, error)
        otel = self.otel
        if otel is not None:
            reason = self.refresh.reason
            if reason is None or (source == n.SOURCE_CACHE and not self.requests):
                reason = n.NOT_APPLICABLE
            attributes: dict[str, Any] = {
                n.API: self.api,
                n.TOKEN_SOURCE: source,
                n.OUTCOME: outcome,
                n.REFRESH_REASON: reason,
            }
            if error_type is not None:
                attributes[n.ERROR_TYPE] = error_type
            if self.managed_identity_source is not None:
                attributes[n.MANAGED_IDENTITY_SOURCE] = self.managed_identity_source
            otel.acquisitions.add(1, attributes)
            otel.duration.record(seconds, attributes)
            otel.http_duration.record(self.http_seconds, attributes)
            otel.library_duration.record(max(0.0, seconds - self.http_seconds), attributes)
            if self.span is not None:
                self.span.end({**attributes, n.HTTP_REQUEST_COUNT: self.requests}, error_type)

    def _outcome(
        self, result: Any, error: Optional[BaseException]
    ) -> tuple[str, str, Optional[str]]:
        if error is not None:
            return self._asked(), n.OUTCOME_FAILURE, exception_type(error)
        if result is None:
            return n.SOURCE_NONE, n.OUTCOME_EMPTY, None
        if not isinstance(result, dict):
            return n.SOURCE_NONE, n.OUTCOME_SUCCESS, None
        if "error" in result:
            return self._asked(), n.OUTCOME_FAILURE, error_code(result["error"])
        if "access_token" not in result:
            return n.SOURCE_NONE, n.OUTCOME_SUCCESS, None
        if result.get("token_source") == n.SOURCE_CACHE:
            return n.SOURCE_CACHE, n.OUTCOME_SUCCESS, None
        return self._provider(), n.OUTCOME_SUCCESS, None

    def _provider(self) -> str:
        if self.managed_identity_source is not None:
            return n.SOURCE_MANAGED_IDENTITY
        return n.SOURCE_IDENTITY_PROVIDER

    def _asked(self) -> str:
        """Where a failure came from: the provider if a request was made, else nowhere."""
        return self._provider() if self.requests else n.SOURCE_NONE


def current_call() -> Optional[Call]:
    """The call being measured in this context, if any."""
    observer = HTTP_OBSERVER.get()
    return observer if isinstance(observer, Call) else None


def note_managed_identity_source(name: str) -> None:
    """The managed identity source (``IMDS``, ``APP_SERVICE``, ...) the current call asks."""
    call = current_call()
    if call is not None:
        call.managed_identity_source = name
