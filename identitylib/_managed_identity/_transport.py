"""Sending managed-identity requests: timeouts, no redirects, a pinned session for SF."""

from __future__ import annotations

from typing import Any, Union

import requests
import requests.adapters

from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._transport._sync import SyncTransport, normalise_response

#: (connect, read) seconds of identitylib's own session. The connect timeout is short so
#: that a process off Azure, where nothing answers at 169.254.169.254, fails in ~2 s.
DEFAULT_TIMEOUT = (2.0, 15.0)

Timeout = Union[float, tuple[float, float], None]


class ManagedIdentityTransport(SyncTransport):
    """A ``SyncTransport`` for token sources that hold a secret header.

    Redirects are never followed (``requests`` would carry ``X-IDENTITY-HEADER`` or
    ``Secret`` to wherever a redirect points) when the client is a ``requests.Session``.
    identitylib's own session (``http_client=None``) gets :data:`DEFAULT_TIMEOUT`, no
    connection retries (IMDS retries are the flow's business) and ignores proxy settings
    of the environment (every source is on the machine itself or link-local). An app's
    ``http_client`` is used as given: its timeouts, retries and proxies are the app's
    choice, as in msal.
    """

    def __init__(
        self,
        http_client: Any = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        owned: bool = False,
    ) -> None:
        super().__init__(http_client, timeout=timeout)
        self._owned = owned or http_client is None
        if http_client is None:
            self.http_client.trust_env = False
            adapter = requests.adapters.HTTPAdapter(max_retries=0)
            self.http_client.mount("https://", adapter)
            self.http_client.mount("http://", adapter)

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request and return its normalised response."""
        kwargs: dict[str, Any] = {"params": request.params, "headers": dict(request.headers)}
        if self._owned:
            kwargs["timeout"] = self._timeout
        if self._owned or isinstance(self.http_client, requests.Session):
            kwargs["allow_redirects"] = False
        if request.method == "POST":
            raw = self.http_client.post(request.url, data=request.data, **kwargs)
        else:
            raw = self.http_client.get(request.url, **kwargs)
        return normalise_response(raw)

    def close(self) -> None:
        """Close the session if this transport made it."""
        if self._owned:
            close = getattr(self.http_client, "close", None)
            if close is not None:
                close()
