"""Process-wide memory of discovered authority metadata, optionally persisted in ``http_cache``.

A second application object with the same authority makes no discovery request. An app may
pass a dict-like ``http_cache`` (for instance a ``shelve``) so that a CLI started again
skips discovery too; entries there are plain dicts and survive pickling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import MutableMapping
from typing import Any

from identitylib._log import get_logger

from ._metadata import OidcMetadata

logger = get_logger(__name__)

#: How long discovered metadata is trusted, in seconds (the servers say max-age=86400).
METADATA_TTL = 24 * 3600
HTTP_CACHE_PREFIX = "identitylib.oidc-configuration "


class MetadataRegistry:
    """Thread-safe map from discovery URL to raw metadata, with expiry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[dict[str, Any], float]] = {}

    def get(
        self, url: str, http_cache: MutableMapping[Any, Any] | None = None
    ) -> dict[str, Any] | None:
        """The raw configuration for ``url`` if still fresh, from memory or ``http_cache``."""
        now = time.time()
        with self._lock:
            entry = self._entries.get(url)
        if entry and entry[1] > now:
            return entry[0]
        if http_cache is not None:
            stored = _read_http_cache(http_cache, url)
            if stored is not None and stored[1] > now:
                with self._lock:
                    self._entries[url] = stored
                return stored[0]
        return None

    def put(
        self, url: str, document: dict[str, Any], http_cache: MutableMapping[Any, Any] | None = None
    ) -> None:
        """Remember a validated configuration document."""
        entry = (document, time.time() + METADATA_TTL)
        with self._lock:
            self._entries[url] = entry
        if http_cache is not None:
            try:
                http_cache[HTTP_CACHE_PREFIX + url] = {"document": document, "expires_at": entry[1]}
            except Exception as exc:  # a persistent mapping may fail; memory still has it
                logger.warning("Could not store authority metadata in http_cache: %s", exc)

    def clear(self) -> None:
        """Forget everything (used by tests)."""
        with self._lock:
            self._entries.clear()


def _read_http_cache(
    http_cache: MutableMapping[Any, Any], url: str
) -> tuple[dict[str, Any], float] | None:
    try:
        stored = http_cache.get(HTTP_CACHE_PREFIX + url)
    except Exception as exc:
        logger.warning("Could not read authority metadata from http_cache: %s", exc)
        return None
    if not isinstance(stored, dict):
        return None
    document, expires_at = stored.get("document"), stored.get("expires_at")
    if isinstance(document, dict) and isinstance(expires_at, (int, float)):
        return document, float(expires_at)
    return None


#: The registry shared by every application object of the process.
REGISTRY = MetadataRegistry()


def metadata_cache_key(metadata: OidcMetadata) -> str:
    """A short description for logs."""
    return metadata.token_endpoint
