"""Answering a repeated failing request locally for a while (msal's MI throttling).

After a call ends with HTTP 429, a 5xx, or any answer carrying ``Retry-After``, the same
request (URL and parameters) made again within ``Retry-After`` seconds (5 by default, at
most an hour) gets the same error result with no network traffic. Records live in the
app's ``http_cache`` when it gives one (so they survive restarts, as msal's do), else in
a dict of the client's own.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Optional

from identitylib._log import get_logger
from identitylib._protocol._messages import HttpRequest

from ._response import Outcome
from ._retry import parse_retry_after

logger = get_logger(__name__)

DEFAULT_SECONDS = 5
MAX_SECONDS = 3600
PREFIX = "identitylib-mi-throttle "


def request_key(request: HttpRequest) -> str:
    """``identitylib-mi-throttle {METHOD} {url} {sha256 of params and form}``."""
    material = repr(sorted((request.params or {}).items())) + repr(
        sorted((request.data or {}).items())
    )
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()
    return f"{PREFIX}{request.method} {request.url} {digest}"


def throttle_seconds(outcome: Outcome, now: float) -> int:
    """How long to answer this outcome locally (0: not at all)."""
    status = outcome.status
    if status is None or "error" not in outcome.result:
        return 0
    header = outcome.headers.get("retry-after")
    if not (status == 429 or status >= 500 or header is not None):
        return 0
    seconds = parse_retry_after(header, now)
    return int(min(MAX_SECONDS, DEFAULT_SECONDS if seconds is None else seconds))


class Throttle:
    """Error results remembered per request key until they expire."""

    def __init__(self, http_cache: Optional[MutableMapping[Any, Any]] = None) -> None:
        self._store: MutableMapping[Any, Any] = http_cache if http_cache is not None else {}

    def get(self, key: str, now: Optional[float] = None) -> Optional[dict[str, Any]]:
        """The remembered error result for ``key``, if still in force."""
        moment = time.time() if now is None else now
        try:
            record = self._store.get(key)
        except Exception as exc:  # a shelve or a custom mapping may fail
            logger.warning("Could not read http_cache: %s", exc)
            return None
        if not isinstance(record, Mapping):
            return None
        expires_at, result = record.get("expires_at"), record.get("result")
        if not isinstance(expires_at, (int, float)) or not isinstance(result, dict):
            return None
        if expires_at <= moment:
            self._forget(key)
            return None
        return dict(result)

    def remember(self, key: str, outcome: Outcome, now: Optional[float] = None) -> None:
        """Record ``outcome`` under ``key`` if it is throttling-worthy."""
        moment = time.time() if now is None else now
        seconds = throttle_seconds(outcome, moment)
        if seconds <= 0:
            return
        try:
            self._store[key] = {"expires_at": moment + seconds, "result": dict(outcome.result)}
        except Exception as exc:
            logger.warning("Could not write http_cache: %s", exc)

    def _forget(self, key: str) -> None:
        try:
            self._store.pop(key, None)
        except Exception as exc:
            logger.warning("Could not update http_cache: %s", exc)
