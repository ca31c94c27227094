"""Transports execute the requests that protocol flows yield.

The blocking transport imports ``requests`` (about 60 ms): it loads on first use, so that
modules which only observe or classify requests (telemetry, the retry policy) keep
``import identitylib`` cheap.
"""

from typing import TYPE_CHECKING

from identitylib._protocol._lazy import lazy_attributes

if TYPE_CHECKING:
    from ._sync import DEFAULT_TIMEOUT, SyncTransport, run_sync

__getattr__ = lazy_attributes(
    __name__,
    {"DEFAULT_TIMEOUT": "._sync", "SyncTransport": "._sync", "run_sync": "._sync"},
    globals(),
)

__all__ = ["DEFAULT_TIMEOUT", "SyncTransport", "run_sync"]
