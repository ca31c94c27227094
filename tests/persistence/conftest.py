"""Fixtures of the persistent cache tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from identitylib._persistence import PersistedTokenCache

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
