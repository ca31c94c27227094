"""Values of the OpenID Connect ``prompt`` parameter, named as in MSAL (``msal.Prompt``)."""

from __future__ import annotations


class Prompt:
    """Constants for ``prompt=`` of the sign-in methods."""

    NONE = "none"
    LOGIN = "login"
    CONSENT = "consent"
    SELECT_ACCOUNT = "select_account"
    CREATE = "create"
