"""OpenTelemetry traces and metrics of identitylib: off until :func:`enable` is called.

::

    import identitylib.telemetry
    identitylib.telemetry.enable()   # the global TracerProvider and MeterProvider

Needs ``opentelemetry-api`` (``pip install 'identitylib[telemetry]'``) and, to export
anything, an SDK configured by the application. Signals, attributes and a minimal setup:
docs/telemetry.md. Without OpenTelemetry, every application object still keeps totals:
``app.get_token_totals()`` (a :class:`TokenTotals`).
"""

from __future__ import annotations

from typing import Any

from identitylib._telemetry import Switch, TokenTotals

__all__ = ["TokenTotals", "disable", "enable", "is_enabled"]


def enable(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Emit a span per public ``acquire_token*`` call (a child span per HTTP request) and
    the metrics of docs/telemetry.md, process-wide, through the given providers (None: the
    global ones, ``opentelemetry.trace.get_tracer_provider()`` and
    ``opentelemetry.metrics.get_meter_provider()``). Calling it again replaces them.

    Raises ImportError when ``opentelemetry-api`` is not installed.
    """
    Switch.enable(tracer_provider, meter_provider)


def disable() -> None:
    """Stop emitting spans and metrics (the apps' totals are kept regardless)."""
    Switch.disable()


def is_enabled() -> bool:
    """Whether :func:`enable` is in force."""
    return Switch.instruments is not None
