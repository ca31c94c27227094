"""Interactive sign-in through the system browser and a loopback listener."""

from __future__ import annotations

from ._core import AppCore


class InteractiveMixin(AppCore):
    """``acquire_token_interactive``."""
