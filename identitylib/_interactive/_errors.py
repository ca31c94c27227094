"""The exception an interactive sign-in raises when the user does not finish in time."""

from __future__ import annotations

from identitylib.exceptions import MsalError


class BrowserInteractionTimeoutError(MsalError, RuntimeError):
    """The browser sign-in was not completed before the timeout.

    A ``RuntimeError`` as in MSAL Python (``msal.BrowserInteractionTimeoutError``).
    """
