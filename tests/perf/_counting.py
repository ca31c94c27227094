"""Counting what a call runs (never timing it): the perf tests' structural checks."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, Callable, Optional


def python_calls(
    run: Callable[[], Any], *, qualified: bool = False, within: Optional[str] = None
) -> Counter[tuple[str, str]]:
    """(module file name, function name) of every Python function ``run()`` calls,
    counted; ``qualified``: the qualified name (``Class.method``) where Python has it;
    ``within``: only the calls made inside the function of that qualified name (itself
    counted), e.g. ``"TokenCache.add"``."""
    seen: Counter[tuple[str, str]] = Counter()
    depth = 0  # (within: how deep inside it)

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal depth
        if event == "call":
            code = frame.f_code
            qualname = getattr(code, "co_qualname", code.co_name)
            if within is not None:
                if not depth and qualname != within:
                    return
                depth += 1
            name = qualname if qualified else code.co_name
            seen[code.co_filename.replace("\\", "/").rsplit("/", 1)[-1], name] += 1
        elif event == "return" and depth:
            depth -= 1

    _profiled(run, profile)
    return seen


def builtin_calls(run: Callable[[], Any]) -> Counter[tuple[str, str]]:
    """(module file name of the caller, qualified name) of every built-in function or
    method ``run()`` calls (``sorted``, ``str.join``), counted: what :func:`python_calls`
    does not see."""
    seen: Counter[tuple[str, str]] = Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            caller = frame.f_code.co_filename.replace("\\", "/").rsplit("/", 1)[-1]
            seen[caller, getattr(arg, "__qualname__", repr(arg))] += 1

    _profiled(run, profile)
    return seen


def _profiled(run: Callable[[], Any], profile: Callable[[Any, str, Any], None]) -> None:
    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
