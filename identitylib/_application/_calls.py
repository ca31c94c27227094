"""The cores of the two kinds of application: every builder each kind has.

``PublicCalls`` and ``ConfidentialCalls`` are what the blocking and the asyncio
``PublicClientApplication`` / ``ConfidentialClientApplication`` hold (see ``_core.py``).
"""

from __future__ import annotations

from typing import Any

from ._accounts import AccountCalls
from ._auth_code import AuthCodeCalls
from ._client_calls import ClientCalls
from ._interactive import InteractiveCalls
from ._password import PasswordCalls
from ._sign_in import SignInCalls
from ._user_fic import UserFicCalls


class CommonCalls(AuthCodeCalls, AccountCalls, PasswordCalls):
    """The builders both kinds of application have."""


class PublicCalls(SignInCalls, InteractiveCalls, CommonCalls):
    """A public client's core: it holds no credential."""

    def __init__(self, client_id: str, client_credential: Any, **options: Any) -> None:
        if client_credential is not None:
            raise ValueError(
                "A public client application holds no credential: drop client_credential, "
                "or use ConfidentialClientApplication for a web app, web API or daemon"
            )
        super().__init__(client_id, None, **options)


class ConfidentialCalls(ClientCalls, UserFicCalls, CommonCalls):
    """A confidential client's core: it needs a credential."""

    def check_credential(self) -> None:
        if self.state.credential is None:
            raise ValueError(
                "A confidential client application needs client_credential: a secret string, "
                "a certificate dict or a client assertion; use PublicClientApplication otherwise"
            )
