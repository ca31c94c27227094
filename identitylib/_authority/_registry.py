"""Process-wide memory of discovered authority metadata, optionally persisted in ``http_cache``.

A second application object with the same authority and the same :class:`TrustKey` (the
same transport, ``verify`` and ``proxies``) makes no discovery request; apps with other
trust keys never see each other's documents. An app may pass a dict-like ``http_cache``
(for instance a ``shelve``) so that a CLI started again skips discovery too; entries there
are plain dicts (they survive pickling), written and read only under the trust key's
:attr:`~TrustKey.persistent_tag`, so an app built with ``verify=False`` or a proxy never
fills in what a strict app reads after a restart.

The registry holds at most :data:`MAX_ENTRIES` documents: entries of apps whose
``http_client`` is gone are dropped first, then the oldest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import MutableMapping
from typing import Any, Callable

from identitylib._log import get_logger

from ._metadata import OidcMetadata
from ._trust import TrustKey, make_room

logger = get_logger(__name__)

#: How long discovered metadata is trusted, in seconds (the servers say max-age=86400).
METADATA_TTL = 24 * 3600
#: Most documents kept in memory (one per authority and trust key).
MAX_ENTRIES = 512
#: Key prefix in ``http_cache``: ``"<prefix><persistent tag> <discovery key>"``.
HTTP_CACHE_PREFIX = "identitylib.oidc-configuration/2 "

_Entry = tuple[dict[str, Any], float]


class MetadataRegistry:
    """Thread-safe map from (trust key, discovery key) to raw metadata, with expiry.

    The discovery key names the document and how it was validated (see
    ``Authority.discovery_key``). ``clock`` gives wall-clock seconds (expiry times are
    persisted in ``http_cache``).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[TrustKey, str], _Entry] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(
        self, trust: TrustKey, key: str, http_cache: MutableMapping[Any, Any] | None = None
    ) -> dict[str, Any] | None:
        """The raw configuration for ``key`` if still fresh, from memory or ``http_cache``."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get((trust, key))
        if entry and entry[1] > now:
            return entry[0]
        tag = trust.persistent_tag
        if http_cache is not None and tag is not None:
            stored = _read_http_cache(http_cache, tag, key)
            if stored is not None and stored[1] > now:
                self._remember(trust, key, stored)
                return stored[0]
        return None

    def put(
        self,
        trust: TrustKey,
        key: str,
        document: dict[str, Any],
        http_cache: MutableMapping[Any, Any] | None = None,
    ) -> None:
        """Remember a validated configuration document."""
        entry = (document, self._clock() + METADATA_TTL)
        self._remember(trust, key, entry)
        tag = trust.persistent_tag
        if http_cache is not None and tag is not None:
            try:
                http_cache[_http_cache_key(tag, key)] = {
                    "document": document,
                    "expires_at": entry[1],
                }
            except Exception as exc:  # a persistent mapping may fail; memory still has it
                logger.warning("Could not store authority metadata in http_cache: %s", exc)

    def _remember(self, trust: TrustKey, key: str, entry: _Entry) -> None:
        with self._lock:
            self._entries.pop((trust, key), None)  # re-added last: the newest
            make_room(self._entries, MAX_ENTRIES)
            self._entries[(trust, key)] = entry

    def clear(self) -> None:
        """Forget everything (used by tests)."""
        with self._lock:
            self._entries.clear()


def _http_cache_key(tag: str, key: str) -> str:
    return f"{HTTP_CACHE_PREFIX}{tag} {key}"


def _read_http_cache(http_cache: MutableMapping[Any, Any], tag: str, key: str) -> _Entry | None:
    try:
        stored = http_cache.get(_http_cache_key(tag, key))
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
