"""Transports execute the requests that protocol flows yield."""

from ._sync import DEFAULT_TIMEOUT, SyncTransport, run_sync

__all__ = ["DEFAULT_TIMEOUT", "SyncTransport", "run_sync"]
