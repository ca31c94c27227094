"""Sending managed-identity requests: timeouts, no redirects, a pinned session for SF."""

from __future__ import annotations

from typing import Any, Optional

from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._transport._bounds import Timeout
from identitylib._transport._observe import send_watched
from identitylib._transport._policy import NO_RETRY
from identitylib._transport._sync import SyncTransport

#: (connect, read) seconds of identitylib's own session. The connect timeout is short so
#: that a process off Azure, where nothing answers at 169.254.169.254, fails in ~2 s.
DEFAULT_TIMEOUT = (2.0, 15.0)

#: Seconds one managed-identity request may take in all (the body included). IMDS retries
#: are the flow's, each a request of its own with this bound (see ``_retry.py``).
DEFAULT_DEADLINE = 17.0


class ManagedIdentityTransport(SyncTransport):
    """A ``SyncTransport`` for token sources that hold a secret header.

    Redirects are never followed (``requests`` would carry ``X-IDENTITY-HEADER`` or
    ``Secret`` to wherever a redirect points) when the client is a ``requests.Session``.
    identitylib's own session (``http_client=None``, or a session it made and passes with
    ``owned=True``, e.g. Service Fabric's certificate-pinned one) gets
    :data:`DEFAULT_TIMEOUT` and :data:`DEFAULT_DEADLINE`, reads the body as every
    identitylib transport does (streamed, capped, within the deadline), makes no retries
    (IMDS retries are the flow's business) and ignores proxy settings of the environment
    (every source is on the machine itself or link-local). An app's ``http_client`` is used
    as given: its timeouts, retries and proxies are the app's choice, as in msal. The token
    transports' throttle is not applied: the managed-identity client throttles per source.
    """

    def __init__(
        self,
        http_client: Any = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        owned: bool = False,
        deadline: Optional[float] = DEFAULT_DEADLINE,
    ) -> None:
        super().__init__(
            http_client,
            timeout=timeout,
            retry=NO_RETRY,
            deadline=deadline,
            follow_redirects=False,
            trust_env=False,
        )
        self._owned = owned or http_client is None
        self._owns_client = self._owned  # a session identitylib made is read as its own

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request (no throttle, no retry) and return its normalised response."""
        return send_watched(request, self.send_once)

    def close(self) -> None:
        """Close the session if this transport made it."""
        if self._owned:
            close = getattr(self.http_client, "close", None)
            if close is not None:
                close()
