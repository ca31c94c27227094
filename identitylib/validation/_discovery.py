"""The issuer's metadata (``issuer``, ``jwks_uri``) through the authority layer.

Discovery documents are shared with the application classes through the process-wide
registry of :mod:`identitylib._authority`. Here one discovery per URL is in flight at a
time, and a failed one is not retried for :data:`FAILURE_BACKOFF` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import MutableMapping
from typing import Any, Optional

from identitylib._authority import Authority, ParsedAuthority
from identitylib._authority._metadata import OidcMetadata
from identitylib._protocol._errors import FlowError
from identitylib._transport import SyncTransport, run_sync

from ._errors import TokenValidationError, unavailable
from ._jwks_cache import FAILURE_BACKOFF, LOCK_TIMEOUT

_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}
_failures: dict[str, tuple[float, TokenValidationError]] = {}


def _lock_for(url: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(url, threading.Lock())


def run_transport(flow: Any, transport: SyncTransport, what: str) -> Any:
    """Run a flow; a transport exception becomes ``temporarily_unavailable``."""
    try:
        return run_sync(flow, transport)
    except FlowError as failure:
        description = failure.result.get("error_description") or failure.result.get("error")
        raise unavailable(f"Could not get the {what}: {description}") from None
    except TokenValidationError:
        raise
    except Exception as exc:  # requests' errors, or whatever a custom http_client raises
        raise unavailable(f"Could not get the {what}: {type(exc).__name__}") from None


def metadata(
    parsed: ParsedAuthority,
    transport: SyncTransport,
    http_cache: Optional[MutableMapping[Any, Any]] = None,
) -> OidcMetadata:
    """The authority's metadata, discovered if the registry does not have it."""
    known = Authority(parsed, http_cache=http_cache).known_metadata
    if known is not None:
        return known
    url = parsed.discovery_url
    lock = _lock_for(url)
    if not lock.acquire(timeout=LOCK_TIMEOUT):
        raise unavailable("Timed out waiting for the issuer's metadata")
    try:
        authority = Authority(parsed, http_cache=http_cache)
        known = authority.known_metadata
        if known is not None:
            return known
        failed = _failures.get(url)
        if failed is not None and time.monotonic() - failed[0] < FAILURE_BACKOFF:
            raise failed[1].again()
        try:
            found: OidcMetadata = run_transport(
                authority.metadata_flow(), transport, f"OpenID configuration of {parsed.url}"
            )
        except TokenValidationError as failure:
            _failures[url] = (time.monotonic(), failure)
            raise
        _failures.pop(url, None)
        return found
    finally:
        lock.release()


def clear_failures() -> None:
    """Forget recent discovery failures (tests)."""
    _failures.clear()
