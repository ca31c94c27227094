"""Fixtures of the persistent cache tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from identitylib._persistence import PersistedTokenCache
from identitylib.emulator import Emulator

from ._helpers import Idp

MakeCache = Callable[..., PersistedTokenCache]


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    """A cache file path in a directory that does not exist yet."""
    return tmp_path / "cache" / "tokens.json"


@pytest.fixture
def make_cache(cache_path: Path) -> MakeCache:
    """Builds PersistedTokenCache objects on ``cache_path`` (a plain path by default)."""

    def make(persistence: Any = None, **kwargs: Any) -> PersistedTokenCache:
        return PersistedTokenCache(persistence or str(cache_path), **kwargs)

    return make


@pytest.fixture
def idp(identitylib_emulator_tls: Emulator) -> Idp:
    """The session's TLS emulator with empty logs, for the tests that acquire tokens."""
    identitylib_emulator_tls.faults.reset()
    identitylib_emulator_tls.reset_requests()
    return Idp(identitylib_emulator_tls)
