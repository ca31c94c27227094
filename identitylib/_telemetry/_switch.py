"""Whether OpenTelemetry signals are emitted, and through which instruments."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ._otel import Instruments

MISSING = "identitylib telemetry needs opentelemetry-api: pip install 'identitylib[telemetry]'"


class Switch:
    """The process-wide choice: None (the default) or the instruments in use."""

    instruments: Optional[Instruments] = None
    _lock = threading.Lock()

    @classmethod
    def enable(cls, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        """Emit spans and metrics through the given providers (None: the global ones)."""
        try:
            from ._otel import Instruments
        except ImportError as exc:
            raise ImportError(MISSING) from exc
        with cls._lock:
            cls.instruments = Instruments(tracer_provider, meter_provider)

    @classmethod
    def disable(cls) -> None:
        """Stop emitting (calls already running finish with the instruments they began with)."""
        with cls._lock:
            cls.instruments = None
