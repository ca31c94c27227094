"""Who watches the HTTP requests of the current call: a seam for telemetry, no I/O.

The transports tell the :class:`HttpObserver` found in :data:`HTTP_OBSERVER` (None: nobody
watches, and the transports do nothing more than a ``ContextVar.get``) about every attempt
of a request and every answer the local throttle replays. The application layer installs
one per public call (``identitylib/_telemetry``). It lives in a context variable, so the
attempts of a call are seen wherever its context goes: worker threads started with a copy
of it, asyncio tasks, the requests a flow sends.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Callable, Optional, Protocol

from identitylib._protocol._messages import HttpRequest, HttpResponse

__all__ = ["HTTP_OBSERVER", "Attempt", "HttpObserver", "send_watched"]


class Attempt(Protocol):
    """One attempt of a request, told how it ended (exactly one of the two is called)."""

    def answered(self, response: HttpResponse) -> None:
        """The server answered (any status)."""

    def failed(self, error: BaseException) -> None:
        """The attempt raised (connection, timeout, TLS, an app's ``http_client``)."""


class HttpObserver(Protocol):
    """Told of the HTTP traffic of one call."""

    def attempt(self, request: HttpRequest, resend_count: int) -> Attempt:
        """An attempt of ``request`` starts now; ``resend_count`` is 0 for the first one
        and counts the retries after it."""

    def replayed(self, request: HttpRequest, response: HttpResponse) -> None:
        """The local throttle answered ``request`` with ``response`` without sending it."""


#: The observer of the current call, if any.
HTTP_OBSERVER: ContextVar[Optional[HttpObserver]] = ContextVar(
    "identitylib_http_observer", default=None
)


def send_watched(request: HttpRequest, send: Callable[[HttpRequest], HttpResponse]) -> HttpResponse:
    """``send(request)``, one attempt, told to the current observer if there is one (for a
    transport without retries or throttle of its own)."""
    observer = HTTP_OBSERVER.get()
    if observer is None:
        return send(request)
    watch = observer.attempt(request, 0)
    try:
        response = send(request)
    except Exception as exc:
        watch.failed(exc)
        raise
    watch.answered(response)
    return response
