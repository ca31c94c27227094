"""How long a request may take and how much of its body is read: sans-I/O, for every transport.

A request sent by identitylib's own HTTP clients (blocking, asyncio, managed identity) is
bounded three ways:

* each socket operation by the **timeout** (``(connect, read)`` seconds, as ``requests``
  spells it);
* the whole body of one attempt by the read timeout too, so a server that drips a byte at a
  time cannot keep a call alive by answering just in time;
* the whole request, **every attempt and every wait between attempts included**, by a
  :class:`Deadline`. A retry whose wait would end after the deadline is not made, and the
  socket timeouts of a late attempt shrink to the time left.

:class:`BodyReader` collects a body piece by piece (each transport feeds it what its own
library reads), stops at ``max_body`` bytes or at its moment, whichever comes first, and
builds the :class:`HttpResponse`. Neither class does I/O; the clock is injected.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Callable, Optional, Union

from identitylib._log import get_logger, safe_url
from identitylib._protocol._messages import HttpResponse
from identitylib._protocol._token_response import TRUNCATED_HEADER

logger = get_logger(__name__)

Clock = Callable[[], float]

#: A timeout as ``requests`` takes it: seconds for every socket operation, or
#: ``(connect, read)``, or None for none.
Timeout = Union[float, tuple[float, float], None]

#: (connect, read) seconds of identitylib's own HTTP clients. MSAL has no timeout at all.
DEFAULT_TIMEOUT = (10.0, 20.0)

#: Seconds one request may take in all with the default timeout: every attempt and the waits
#: between them. A server that stalls ends the call with an error within this bound.
DEFAULT_DEADLINE = 25.0


def split_timeout(timeout: Timeout) -> tuple[Optional[float], Optional[float]]:
    """``(connect, read)`` seconds of a ``requests``-style timeout (None: unbounded)."""
    if isinstance(timeout, tuple):
        return timeout[0], timeout[1]
    return timeout, timeout


def deadline_for(timeout: Timeout) -> float:
    """The total seconds a request may take when the app gave ``timeout=`` (None: it gave none).

    :data:`DEFAULT_DEADLINE` for the default timeout; for a timeout an app chose, the longer
    of that and the time one attempt may take by itself (connect plus read), so that an app
    which allows a slow server 60 s per read gets those 60 s.
    """
    if timeout is None:
        return DEFAULT_DEADLINE
    connect, read = split_timeout(timeout)
    return max(DEFAULT_DEADLINE, (connect or 0.0) + (read or 0.0))


@dataclass(frozen=True)
class Deadline:
    """A moment on a monotonic ``clock`` by which a request must be over (``inf``: never)."""

    at: float = math.inf
    clock: Clock = time.monotonic

    @classmethod
    def after(cls, seconds: Optional[float], clock: Clock = time.monotonic) -> Deadline:
        """The deadline ``seconds`` from now; None means no deadline."""
        if seconds is None:
            return cls(math.inf, clock)
        return cls(clock() + max(0.0, seconds), clock)

    def left(self) -> float:
        """Seconds left (0 when passed, ``inf`` without a deadline)."""
        return max(0.0, self.at - self.clock())

    def cap(self, seconds: Optional[float]) -> Optional[float]:
        """``seconds`` shortened to the time left (None stays None without a deadline)."""
        left = self.left()
        if seconds is None:
            return None if math.isinf(left) else left
        return min(seconds, left)

    def timeout(self, timeout: Timeout) -> Timeout:
        """The ``(connect, read)`` timeout of an attempt made now: no longer than the time left.

        A passed deadline still leaves a sliver, so that the attempt fails with the HTTP
        library's own timeout error rather than with an invalid-timeout one.
        """
        if math.isinf(self.at):
            return timeout
        connect, read = split_timeout(timeout)
        floor = 0.001
        return (max(floor, self.cap(connect) or 0.0), max(floor, self.cap(read) or 0.0))

    def body_until(self, read_timeout: Optional[float]) -> float:
        """The moment by which the body of an attempt starting now must have arrived."""
        if read_timeout is None:
            return self.at
        return min(self.at, self.clock() + read_timeout)


class Fed(enum.Enum):
    """What :meth:`BodyReader.feed` says about the body so far."""

    MORE = "more"  #: keep reading
    FULL = "full"  #: over ``max_body``: stop reading, the response is marked truncated
    LATE = "late"  #: the body did not arrive in time: the transport raises its read timeout


class BodyReader:
    """Collects one response body, at most ``max_body`` bytes, until the moment ``until``."""

    def __init__(self, max_body: int, until: float = math.inf, clock: Clock = time.monotonic):
        self.max_body = max_body
        self.until = until
        self._clock = clock
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False

    def left(self) -> float:
        """Seconds until the body must be complete (``inf``: no bound)."""
        return max(0.0, self.until - self._clock())

    def feed(self, chunk: bytes) -> Fed:
        """Add the next piece of the body."""
        if chunk:
            self._chunks.append(chunk)
            self._size += len(chunk)
        if self._size > self.max_body:
            self.truncated = True
            return Fed.FULL
        if self._clock() > self.until:
            return Fed.LATE
        return Fed.MORE

    def response(
        self,
        status: int,
        headers: Iterable[tuple[str, str]] | Mapping[str, str],
        encoding: Optional[str],
        url: str = "",
    ) -> HttpResponse:
        """The response read: body cut at ``max_body``, decoded, headers lower-cased."""
        body = b"".join(self._chunks)[: self.max_body]
        try:
            text = body.decode(encoding or "utf-8", "replace")
        except LookupError:
            text = body.decode("utf-8", "replace")
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        lowered = {str(name).lower(): str(value) for name, value in pairs}
        lowered.pop(TRUNCATED_HEADER, None)  # a server may not claim it
        if self.truncated:
            logger.warning("Response body of %s cut at %d bytes", safe_url(url), self.max_body)
            lowered[TRUNCATED_HEADER] = str(self.max_body)
        return HttpResponse(status, text, lowered)


def late_message(seconds: float) -> str:
    """The text of the read-timeout error raised for a body that came too slowly."""
    return f"the response did not arrive within {seconds:g} s"
