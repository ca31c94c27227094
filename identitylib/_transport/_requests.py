"""What the blocking transport knows of ``requests`` and urllib3.

Kept apart from ``_sync.py`` so that ``requests`` (about 60 ms to import) loads only when
it is used: when the transport makes its own session (on the first request it sends), or
when an ``http_client`` raised and the error is sorted. An app that passes its own
``http_client``, or serves every token from the cache, never imports it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests
import requests.adapters
import urllib3

from identitylib._protocol._messages import HttpResponse

from ._bounds import BodyReader, Fed, late_message
from ._policy import ErrorKind

__all__ = ["classify_requests_error", "default_session", "read_bounded"]


def default_session(verify: Any, proxies: Mapping[str, str] | None, trust_env: bool) -> Any:
    """identitylib's own ``requests.Session``: no urllib3 retries, ``verify`` and proxies."""
    session = requests.Session()
    # Connection retries are the transport's (with jitter, see _policy.py), not urllib3's.
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = verify
    session.trust_env = trust_env
    if proxies:
        session.proxies.update(proxies)
    return session


def classify_requests_error(exc: BaseException) -> ErrorKind:
    """Sort an exception raised by ``requests`` (or urllib3, or an app's ``http_client``)
    into an :data:`~identitylib._transport._policy.ErrorKind`."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "other"  # a TLS failure would fail again
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError)):
        return "connect"
    if isinstance(exc, requests.exceptions.Timeout):
        return "read"
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
        return "connect" if _never_sent(exc) else "dropped"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "dropped"
    return "other"


def _never_sent(exc: BaseException) -> bool:
    """Whether the failure happened before the request left: no connection was made."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        error = pending.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(
            error,
            (
                urllib3.exceptions.NewConnectionError,  # refused, unreachable, no such host
                urllib3.exceptions.ConnectTimeoutError,
                ConnectionRefusedError,
            ),
        ):
            return True
        # requests wraps urllib3's error in args[0]; urllib3's MaxRetryError keeps .reason.
        pending.extend(error.args)
        pending.extend((getattr(error, "reason", None), error.__cause__, error.__context__))
    return False


def read_bounded(raw: requests.Response, reader: BodyReader, read_budget: float) -> HttpResponse:
    """Read a streamed response into ``reader`` (its size and time bounds), close it, and
    return the reader's :class:`~identitylib._protocol._messages.HttpResponse`."""
    try:
        for chunk in _chunks(raw):
            fed = reader.feed(chunk)
            if fed is Fed.FULL:
                break
            if fed is Fed.LATE:
                raise requests.exceptions.ReadTimeout(late_message(read_budget))
    finally:
        raw.close()
    return reader.response(raw.status_code, raw.headers, raw.encoding, raw.url)


def _chunks(raw: requests.Response) -> Iterator[bytes]:
    """The body as it arrives (each piece as soon as the socket has some), decoded."""
    stream = raw.raw
    read1 = getattr(stream, "read1", None)
    if read1 is None:  # not urllib3 2 (e.g. a mocked adapter): requests' own iterator
        yield from raw.iter_content(chunk_size=16 * 1024)
        return
    empty = 0
    try:
        while True:
            chunk = read1(16 * 1024, decode_content=True)
            if chunk:
                empty = 0
                yield chunk
                continue
            # b"" is the end, unless a decoder swallowed a piece without output yet.
            empty += 1
            if empty > 64 or getattr(stream, "closed", True) or _fp_closed(stream):
                return
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(str(exc)) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(str(exc)) from exc
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError, OSError) as exc:
        # The request was sent and its answer had begun: a dropped connection, never "connect".
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc


def _fp_closed(stream: Any) -> bool:
    is_fp_closed = getattr(stream, "is_fp_closed", None)
    return bool(is_fp_closed()) if callable(is_fp_closed) else True
