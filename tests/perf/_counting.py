"""Counting what a call runs (never timing it): the perf tests' structural checks."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, Callable


def python_calls(run: Callable[[], Any], *, qualified: bool = False) -> Counter[tuple[str, str]]:
    """(module file name, function name) of every Python function ``run()`` calls,
    counted; ``qualified``: the qualified name (``Class.method``) where Python has it."""
    seen: Counter[tuple[str, str]] = Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            name = getattr(code, "co_qualname", code.co_name) if qualified else code.co_name
            seen[code.co_filename.replace("\\", "/").rsplit("/", 1)[-1], name] += 1

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return seen
