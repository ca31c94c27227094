"""``PopAuthScheme``, with the name and constructor of ``msal.auth_scheme``.

Proof-of-possession tokens need an authentication broker, which identitylib does not
have: ``is_pop_supported()`` is False, and passing a scheme as ``auth_scheme=`` raises
``ValueError`` before any request. The class exists so that code which builds one (after
checking ``is_pop_supported()``, or in a branch that never runs here) imports and runs.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import SplitResult, urlsplit

__all__ = ["PopAuthScheme"]


class PopAuthScheme:
    """The parameters of a proof-of-possession token request: the HTTP method and URL
    the token will be bound to, and the nonce from the resource's challenge."""

    HTTP_GET = "GET"
    HTTP_POST = "POST"
    HTTP_PUT = "PUT"
    HTTP_DELETE = "DELETE"
    HTTP_PATCH = "PATCH"
    _HTTP_METHODS = (HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_PATCH)

    def __init__(
        self,
        http_method: Optional[str] = None,
        url: Optional[str] = None,
        nonce: Optional[str] = None,
    ) -> None:
        """All three are required; ``http_method`` in upper case (``PopAuthScheme.HTTP_GET``
        ...). ``ValueError`` otherwise."""
        if not (http_method and url and nonce):
            raise ValueError("PopAuthScheme needs http_method, url and nonce")
        if http_method not in self._HTTP_METHODS:
            raise ValueError(
                f"http_method must be one of {', '.join(self._HTTP_METHODS)} (upper case), "
                f"got {http_method!r}"
            )
        self._http_method: str = http_method
        self._url: SplitResult = urlsplit(url)
        self._nonce: str = nonce

    def __repr__(self) -> str:
        return f"PopAuthScheme({self._http_method!r}, {self._url.geturl()!r}, nonce=...)"
