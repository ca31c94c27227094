"""The one exception token validation raises, and the RFC 6750 challenge it carries."""

from __future__ import annotations

import re
from typing import Optional

from identitylib.exceptions import MsalError

#: RFC 6750 error codes, plus the OAuth ``temporarily_unavailable`` for a key-fetch outage.
INVALID_REQUEST = "invalid_request"
INVALID_TOKEN = "invalid_token"
INSUFFICIENT_SCOPE = "insufficient_scope"
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"

_STATUS = {
    INVALID_REQUEST: 400,
    INVALID_TOKEN: 401,
    INSUFFICIENT_SCOPE: 403,
    TEMPORARILY_UNAVAILABLE: 503,
}
#: Longest ``error_description`` put in a header, in characters.
MAX_DESCRIPTION = 200
# RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E only.
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _quoted(value: str) -> str:
    """``value`` made safe for a quoted-string of a challenge (no quotes, no CR/LF)."""
    cleaned = _UNSAFE.sub("?", value.replace('"', "'").replace("\\", "/"))
    if len(cleaned) > MAX_DESCRIPTION:
        cleaned = cleaned[: MAX_DESCRIPTION - 3] + "..."
    return cleaned


class TokenValidationError(MsalError, ValueError):
    """An access token (or the ``Authorization`` header carrying it) was not accepted.

    ``error`` is ``invalid_request`` (HTTP 400; or 401 when no bearer token was sent at
    all), ``invalid_token`` (401), ``insufficient_scope`` (403) or
    ``temporarily_unavailable`` (503: the issuer's metadata or signing keys could not be
    fetched; not the caller's fault). ``description`` says why, without the token.
    Send :attr:`status_code` and the header :attr:`www_authenticate` back to the caller.
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        scope: Optional[str] = None,
        status_code: Optional[int] = None,
        token_missing: bool = False,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.scope = scope
        self.token_missing = token_missing
        if status_code is None:
            status_code = 401 if token_missing else _STATUS.get(error, 401)
        self.status_code = status_code

    @property
    def error_description(self) -> str:
        """The same as :attr:`description` (the OAuth field name)."""
        return self.description

    @property
    def www_authenticate(self) -> str:
        """The ``WWW-Authenticate`` header value to answer with (RFC 6750 §3).

        ``Bearer error="invalid_token", error_description="..."``; ``insufficient_scope``
        adds ``scope="..."``. When the request carried no bearer token, just ``Bearer``
        (RFC 6750 says to give no error details then).
        """
        if self.token_missing:
            return "Bearer"
        parts = [f'error="{_quoted(self.error)}"']
        if self.description:
            parts.append(f'error_description="{_quoted(self.description)}"')
        if self.scope:
            parts.append(f'scope="{_quoted(self.scope)}"')
        return "Bearer " + ", ".join(parts)

    def __repr__(self) -> str:
        return f"TokenValidationError({self.error!r}, {self.description!r})"

    def again(self) -> TokenValidationError:
        """A new error equal to this one (error, description, status, challenge).

        A failure kept to answer later callers is raised through this: raising the one
        kept object again, from several threads, would pile each raise's traceback on it.
        """
        return TokenValidationError(
            self.error,
            self.description,
            scope=self.scope,
            status_code=self.status_code,
            token_missing=self.token_missing,
        )


def invalid_token(description: str) -> TokenValidationError:
    """The token is malformed, expired, forged or not meant for this API."""
    return TokenValidationError(INVALID_TOKEN, description)


def unavailable(description: str) -> TokenValidationError:
    """The issuer's metadata or keys could not be had: a server-side problem."""
    return TokenValidationError(TEMPORARILY_UNAVAILABLE, description)
