"""Accounts and silent token acquisition (``get_accounts``, ``acquire_token_silent``, ...)."""

from __future__ import annotations

from ._core import AppCore


class AccountsMixin(AppCore):
    """``get_accounts``, ``remove_account``, ``acquire_token_silent(_with_error)``,
    ``acquire_token_by_refresh_token``."""
