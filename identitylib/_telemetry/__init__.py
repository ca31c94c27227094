"""Telemetry: OpenTelemetry spans and metrics (opt-in), and per-app totals (always).

Nothing here imports ``opentelemetry`` until :meth:`Switch.enable` is called (see
``identitylib.telemetry``); the transports know only the observer seam of
``identitylib/_transport/_observe.py``.
"""

from ._call import current_call, note_managed_identity_source
from ._measured import BackgroundRefresh, MeasuredCalls, cache_lane
from ._switch import Switch
from ._totals import TokenTotals

__all__ = [
    "BackgroundRefresh",
    "MeasuredCalls",
    "Switch",
    "TokenTotals",
    "cache_lane",
    "current_call",
    "note_managed_identity_source",
]
