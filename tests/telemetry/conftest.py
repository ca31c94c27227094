"""Fixtures of the telemetry tests: the real OpenTelemetry SDK with in-memory exporters."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._servers import require_module

# ruff: noqa: E402
require_module("opentelemetry.sdk")
require_module("httpx")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from identitylib import telemetry
from identitylib._managed_identity import _arc, _sources


@dataclass
class Signals:
    """What the SDK received: finished spans and metric points."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        """The spans of public calls (not of HTTP requests)."""
        return [s for s in self.spans() if s.name.startswith("identitylib ")]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        assert parent.context is not None
        return [
            s
            for s in self.spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) of every point of the metric ``name`` (a sum's value, a
        histogram's count)."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count  # type: ignore[attr-defined]
                        found.append((dict(point.attributes or {}), value))
        return found

    def everything(self) -> str:
        """Every name, attribute and event of every span and metric point, as text."""
        parts: list[str] = []
        for span in self.spans():
            parts.append(span.name)
            parts.append(repr(dict(span.attributes or {})))
            parts.append(repr(span.status.description))
            for event in span.events:
                parts.append(event.name + repr(dict(event.attributes or {})))
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    parts.append(metric.name)
                    for point in metric.data.data_points:
                        parts.append(repr(dict(point.attributes or {})))
        return "\n".join(parts)


@pytest.fixture
def otel() -> Iterator[Signals]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.enable(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Signals(exporter, reader)
    finally:
        telemetry.disable()
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture
def mi_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No managed identity variables or agent files of this machine (set your own)."""
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_sources, "ARC_AGENT_FILES", {})
    monkeypatch.setitem(_arc.ARC_TOKEN_DIRECTORIES, sys.platform, str(tmp_path / "tokens"))
    return monkeypatch
