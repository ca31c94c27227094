"""One call for the recommended pattern: silent first, then interactive or device code."""

from __future__ import annotations

from ._core import AppCore


class SignInMixin(AppCore):
    """``acquire_token``: silent for the known account, else an interactive sign-in."""
