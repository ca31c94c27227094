"""Integration servers and test dependencies: a missing one skips locally, fails under CI=true."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where nothing may be skipped silently."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str) -> NoReturn:
    """A test needs ``what`` and it is not there: fail under CI, skip elsewhere.

    Callable from a test, a fixture, or a test module's top level (the whole module skips).
    """
    message = f"{what} is not available (run bash .ci/test to install it)"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_module(name: str) -> ModuleType:
    """Import the test dependency ``name``: ``pytest.importorskip`` that fails under CI.

    Every test dependency is in the ``test`` extra, which CI installs: a missing one there is
    a broken environment, not a reason to skip.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"the Python module {name!r}")
