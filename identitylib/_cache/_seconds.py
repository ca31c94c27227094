"""Whole seconds from the forms a cache field or a caller's ``now`` takes."""

from __future__ import annotations

import math
from typing import Any


def seconds(value: Any) -> int | None:
    """An int from an int, a finite float or a numeric string; None otherwise."""
    if type(value) is int:  # (the usual case: one check)
        return value
    if type(value) is float:  # (a caller's ``time.time()``: no ABC check)
        return int(value) if math.isfinite(value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None
