"""Resource owner password credentials (``acquire_token_by_username_password``)."""

from __future__ import annotations

from typing import Any, Optional

from identitylib._log import hide, warn_caller
from identitylib._protocol._scopes import decorate, validate_scopes

from ._core import AppCore
from ._plan import Plan, run

ROPC_DEPRECATION = (
    "This API has been deprecated for public client flows, please use a more secure flow. "
    "See https://aka.ms/msal-ropc-migration for migration guidance"
)


class PasswordCalls(AppCore):
    """The builder of ``acquire_token_by_username_password``."""

    def acquire_token_by_username_password(
        self,
        username: str,
        password: str,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        auth_scheme: Any = None,
        **kwargs: Any,
    ) -> Plan[dict[str, Any]]:
        """Check the arguments (a deprecation warning for public clients, as MSAL 1.39)."""
        if self.state.credential is None:
            warn_caller(ROPC_DEPRECATION, DeprecationWarning)
        if auth_scheme is not None:
            raise ValueError(
                "auth_scheme (proof-of-possession tokens) needs a broker, which identitylib "
                "does not support"
            )
        if not isinstance(username, str) or not username.strip():
            raise ValueError("username must be the user's sign-in name, e.g. a UPN")
        if not isinstance(password, str):
            raise TypeError("password must be a string")
        password = hide(password)
        scope_list = decorate(validate_scopes(scopes), self.state.exclude_scopes)
        self.state.claims(claims_challenge)  # ValueError before any I/O
        # The flow (and its WS-Trust federation machinery, XML included) loads on first use.
        from identitylib._flows import password as password_flow

        return run(
            password_flow.acquire_token_by_username_password(
                self.state,
                username,
                password,
                scope_list,
                claims_challenge=claims_challenge,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )
