"""Exceptions raised by identitylib.

Protocol failures (a server saying no) are returned as error dicts, as in MSAL Python.
Exceptions are reserved for misuse of the API and for conditions an app must handle
explicitly. The names ``MsalError`` and ``MsalServiceError`` match ``msal.exceptions``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "IdTokenError",
    "MsalError",
    "MsalServiceError",
    "TokenCacheError",
]


class MsalError(Exception):
    """Base class of every exception defined by identitylib."""

    #: msal's legacy message template (kept by msal for backward compatibility).
    msg = "An unspecified error"


class MsalServiceError(MsalError):
    """A service answered in a way the library cannot turn into a result dict.

    ``error`` and ``error_description`` mirror the fields of an OAuth error body.
    """

    msg = "{error}: {error_description}"

    def __init__(self, *args: Any, error: str = "", error_description: str = "", **kwargs: Any):
        self.error = error
        self.error_description = error_description
        self.kwargs = kwargs
        message = " ".join(str(a) for a in args) or f"{error}: {error_description}"
        super().__init__(message)


class TokenCacheError(MsalError, ValueError):
    """A serialized token cache could not be loaded (corrupt JSON or wrong shape).

    The cache that raised it keeps its previous content and stays usable.
    """


class IdTokenError(MsalError, RuntimeError):
    """An ID token failed its checks (name kept from msal).

    identitylib reports such failures as ``invalid_id_token`` error results instead of
    raising; the class exists so that code catching ``msal.IdTokenError`` still runs.
    """
