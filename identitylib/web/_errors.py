"""Exceptions of ``identitylib.web``: what a web adapter turns into a redirect or a status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

#: The name, in ``user_flows=``, of the B2C user flow that a "Forgot your password?" answer
#: starts (``SignInFailed.password_reset_requested``).
RESET_PASSWORD = "reset_password"


class WebAuthError(Exception):
    """Base of the errors of ``identitylib.web``."""


class SignInRequired(WebAuthError):
    """The user must go (back) through sign-in: not signed in, tokens gone, more scopes to
    consent to, or a claims challenge (Conditional Access, CAE) to satisfy.

    A web adapter catches it and sends the browser to the provider with ``scopes`` and
    ``claims_challenge``, then back to the page that raised it (incremental consent).
    """

    def __init__(
        self,
        scopes: Sequence[str] = (),
        *,
        claims_challenge: Optional[str] = None,
        reason: str = "sign-in required",
    ) -> None:
        super().__init__(reason)
        self.scopes = list(scopes)
        self.claims_challenge = claims_challenge
        self.reason = reason


class SignInFailed(WebAuthError):
    """The return from the provider could not complete a sign-in: an error the provider
    sent (``error``, ``error_description``), an unknown, expired or already used sign-in,
    or a response that does not belong to this browser session."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description

    @property
    def password_reset_requested(self) -> bool:
        """B2C's answer when the user chose "Forgot your password?" on the sign-up/sign-in
        page (``AADB2C90118``): the app should start its password-reset user flow."""
        return "AADB2C90118" in self.description


class TokenAcquisitionError(WebAuthError):
    """A token could not be obtained for a reason a new sign-in would not fix (the provider
    is down, the app is misconfigured): ``result`` is the error dict."""

    def __init__(self, result: dict[str, Any]) -> None:
        error = str(result.get("error") or "token_error")
        super().__init__(f"{error}: {result.get('error_description', '')}")
        self.result = result
        self.error = error
