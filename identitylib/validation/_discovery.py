"""The issuer's metadata (``issuer``, ``jwks_uri``) through the authority layer.

Discovery documents are shared with the application classes of the same trust key (see
``identitylib/_authority/_trust.py``) through the process-wide registry of
:mod:`identitylib._authority`. Here one discovery per trust key and URL is in flight at a
time, and a failed one is not retried for :data:`FAILURE_BACKOFF` seconds by validators of
the same trust key (another transport's failure says nothing about this one's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import MutableMapping
from typing import Any, Optional

from identitylib._authority import Authority, ParsedAuthority, TrustKey
from identitylib._authority._metadata import OidcMetadata
from identitylib._authority._trust import make_room
from identitylib._protocol._errors import FlowError
from identitylib._transport import SyncTransport, run_sync

from ._errors import TokenValidationError, unavailable
from ._jwks_cache import FAILURE_BACKOFF, LOCK_TIMEOUT

#: Most discovery locks and failures remembered (one per trust key and URL).
MAX_TRACKED = 256

_locks_guard = threading.Lock()
_locks: dict[tuple[TrustKey, str], threading.Lock] = {}
_failures: dict[tuple[TrustKey, str], tuple[float, TokenValidationError]] = {}


def _lock_for(key: tuple[TrustKey, str]) -> threading.Lock:
    """The lock of one discovery. Dropping an old one (to stay bounded) at worst lets a
    second discovery of the same document run beside one still in flight."""
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            make_room(_locks, MAX_TRACKED)
            lock = _locks[key] = threading.Lock()
        return lock


def _recent_failure(key: tuple[TrustKey, str]) -> Optional[TokenValidationError]:
    with _locks_guard:
        failed = _failures.get(key)
    if failed is not None and time.monotonic() - failed[0] < FAILURE_BACKOFF:
        return failed[1]
    return None


def _note_failure(key: tuple[TrustKey, str], failure: Optional[TokenValidationError]) -> None:
    """Remember a failed discovery (None: it succeeded, forget any failure)."""
    with _locks_guard:
        _failures.pop(key, None)
        if failure is not None:
            make_room(_failures, MAX_TRACKED)
            _failures[key] = (time.monotonic(), failure)


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
    trust: TrustKey,
    http_cache: Optional[MutableMapping[Any, Any]] = None,
) -> OidcMetadata:
    """The authority's metadata, discovered if the registry does not have it for ``trust``."""
    authority = Authority(parsed, trust=trust, http_cache=http_cache)
    known = authority.known_metadata
    if known is not None:
        return known
    key = (trust, authority.discovery_key)
    lock = _lock_for(key)
    if not lock.acquire(timeout=LOCK_TIMEOUT):
        raise unavailable("Timed out waiting for the issuer's metadata")
    try:
        known = authority.known_metadata  # another thread's discovery, while this one waited
        if known is not None:
            return known
        failed = _recent_failure(key)
        if failed is not None:
            raise failed.again()  # a fresh exception: tracebacks never pile up on one object
        try:
            found: OidcMetadata = run_transport(
                authority.metadata_flow(), transport, f"OpenID configuration of {parsed.url}"
            )
        except TokenValidationError as failure:
            _note_failure(key, failure)
            raise
        _note_failure(key, None)
        return found
    finally:
        lock.release()


def clear_failures() -> None:
    """Forget recent discovery failures (tests)."""
    with _locks_guard:
        _failures.clear()
