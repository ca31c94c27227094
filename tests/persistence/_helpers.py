"""Helpers shared by the persistent cache tests."""

from __future__ import annotations

import json
import os
from typing import Any

from identitylib._persistence import PersistedTokenCache

from ._workers import app_event

TENANT = "11111111-2222-3333-4444-555555555555"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"

__all__ = ["AUTHORITY", "TENANT", "add_token", "app_event", "at_secrets", "stored"]


def stored(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The cache file, parsed."""
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def at_secrets(path: str | os.PathLike[str]) -> set[str]:
    """The secrets of the access tokens in the cache file."""
    return {entry["secret"] for entry in stored(path).get("AccessToken", {}).values()}


def add_token(cache: PersistedTokenCache, name: str, **kwargs: Any) -> None:
    """Add an app token whose scope and secret are derived from ``name``."""
    cache.add(app_event(f"api://{name}/.default", name), **kwargs)
