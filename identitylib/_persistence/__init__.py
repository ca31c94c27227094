"""Persistent token caches shared between processes (the ``persistence`` extra)."""

from __future__ import annotations

from ._backend import Persistence
from ._build import PersistenceUnavailableError, build_persistence
from ._persisted_cache import DEFAULT_LOCK_TIMEOUT, PersistedTokenCache

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "PersistedTokenCache",
    "Persistence",
    "PersistenceUnavailableError",
    "build_persistence",
]
