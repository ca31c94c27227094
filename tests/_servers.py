"""Integration servers in tests: skip when one is missing locally, fail under CI=true."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where nothing may be skipped silently."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str) -> NoReturn:
    """A test needs ``what`` and it is not there: fail under CI, skip elsewhere."""
    message = f"{what} is not available (run bash .ci/test to install it)"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
