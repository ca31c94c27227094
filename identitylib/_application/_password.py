"""Resource owner password credentials (``acquire_token_by_username_password``)."""

from __future__ import annotations

from ._core import AppCore


class PasswordMixin(AppCore):
    """``acquire_token_by_username_password``."""
