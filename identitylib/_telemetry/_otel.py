"""The OpenTelemetry side: a tracer, a meter and their instruments (imported by
:func:`identitylib.telemetry.enable` only, so ``opentelemetry`` loads only then)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from identitylib._version import __version__

from . import _names as n

Attributes = Mapping[str, Any]


class CallSpan:
    """The span of one public call, current while the call runs."""

    __slots__ = ("_token", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self._token: Optional[object] = otel_context.attach(trace.set_span_in_context(span))

    def end(self, attributes: Attributes, error_type: Optional[str]) -> None:
        """Set the outcome and end the span; the caller's context becomes current again."""
        self.span.set_attributes(attributes)
        if error_type is not None:
            self.span.set_status(Status(StatusCode.ERROR, error_type))
        self.span.end()
        token, self._token = self._token, None
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    def event(self, name: str, attributes: Attributes) -> None:
        """A point in time of the call (e.g. an answer replayed by the throttle)."""
        self.span.add_event(name, attributes)


class Instruments:
    """Tracer, meter and instruments of one :func:`~identitylib.telemetry.enable`."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = trace.get_tracer(n.SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(n.SCOPE, __version__, meter_provider)
        self.acquisitions = meter.create_counter(
            n.ACQUISITIONS, "{acquisition}", "Public acquire calls by API, token source, outcome"
        )
        self.duration = meter.create_histogram(
            n.ACQUISITION_DURATION, "s", "Duration of public acquire calls",
            explicit_bucket_boundaries_advisory=n.ACQUISITION_BUCKETS,
        )  # fmt: skip
        self.http_duration = meter.create_histogram(
            n.ACQUISITION_HTTP_DURATION, "s", "Time an acquire call spent in HTTP requests",
            explicit_bucket_boundaries_advisory=n.ACQUISITION_BUCKETS,
        )  # fmt: skip
        self.library_duration = meter.create_histogram(
            n.ACQUISITION_LIBRARY_DURATION, "s",
            "Time an acquire call spent in the library (its duration minus HTTP)",
            explicit_bucket_boundaries_advisory=n.ACQUISITION_BUCKETS,
        )  # fmt: skip
        self.request_duration = meter.create_histogram(
            n.HTTP_CLIENT_DURATION, "s", "Duration of HTTP client requests",
            explicit_bucket_boundaries_advisory=n.HTTP_BUCKETS,
        )  # fmt: skip
        self.retries = meter.create_counter(
            n.HTTP_RETRIES, "{request}", "HTTP requests sent again by the retry policy"
        )
        self.throttled = meter.create_counter(
            n.HTTP_THROTTLED, "{request}",
            "Requests throttled: by the server (429, 503 with Retry-After) or answered "
            "locally by the client's throttle",
        )  # fmt: skip

    def start_call(
        self, api: str, attributes: Attributes, parent: Optional[CallSpan] = None
    ) -> CallSpan:
        """Start the span of a public call and make it current; with ``parent``, that of
        a background refresh the call ``parent`` started (a child of its span)."""
        if parent is None:
            return CallSpan(self.tracer.start_span(f"{n.SCOPE} {api}", attributes=attributes))
        return CallSpan(
            self.tracer.start_span(
                f"{n.SCOPE} {api} {n.BACKGROUND_REFRESH}",
                context=trace.set_span_in_context(parent.span),
                attributes=attributes,
            )
        )

    def start_attempt(self, parent: Optional[CallSpan], method: str, attributes: Attributes) -> Any:
        """Start the client span of one HTTP attempt, a child of the call's span."""
        context = None if parent is None else trace.set_span_in_context(parent.span)
        return self.tracer.start_span(
            method, context=context, kind=SpanKind.CLIENT, attributes=attributes
        )

    @staticmethod
    def end_attempt(span: Any, attributes: Attributes, error_type: Optional[str]) -> None:
        """End an attempt's span with its outcome."""
        span.set_attributes(attributes)
        if error_type is not None:
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()
