"""The blocking transport: a ``requests.Session`` or any MSAL-style ``http_client``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar, Union

import requests
import requests.adapters

from identitylib._log import get_logger
from identitylib._protocol._messages import WAITED, Flow, HttpRequest, HttpResponse, Wait

logger = get_logger(__name__)
T = TypeVar("T")

#: (connect, read) seconds. MSAL has no timeout; a stalled server must never hang an app.
DEFAULT_TIMEOUT = (10.0, 30.0)

Timeout = Union[float, tuple[float, float], None]


def _default_session(verify: Any, proxies: Mapping[str, str] | None) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=1)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = verify
    if proxies:
        session.proxies.update(proxies)
    return session


class SyncTransport:
    """Sends :class:`HttpRequest` objects with an MSAL-compatible ``http_client``.

    ``http_client`` needs ``post(url, params=, data=, headers=, **kw)`` and
    ``get(url, params=, headers=, **kw)`` returning an object with ``status_code``, ``text``
    and ``headers``. Without one, a ``requests.Session`` is made with ``verify``,
    ``proxies`` and ``timeout`` (default :data:`DEFAULT_TIMEOUT`).
    """

    def __init__(
        self,
        http_client: Any = None,
        *,
        verify: Any = True,
        proxies: Mapping[str, str] | None = None,
        timeout: Timeout = None,
    ) -> None:
        self._owns_client = http_client is None
        if http_client is None:
            http_client = _default_session(verify, proxies)
        elif not (
            callable(getattr(http_client, "post", None))
            and callable(getattr(http_client, "get", None))
        ):
            raise TypeError(
                "http_client must have get(url, params=, headers=, **kwargs) and "
                "post(url, params=, data=, headers=, **kwargs) methods, e.g. a requests.Session"
            )
        self.http_client = http_client
        self._verify = verify
        self._timeout: Timeout = DEFAULT_TIMEOUT if timeout is None else timeout

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request and return its normalised response."""
        kwargs: dict[str, Any] = {"params": request.params, "headers": dict(request.headers)}
        if self._owns_client:
            # Passed per request so REQUESTS_CA_BUNDLE cannot override an explicit verify=.
            kwargs["timeout"] = self._timeout
            kwargs["verify"] = self._verify
            kwargs["allow_redirects"] = request.method == "GET"
        if request.method == "POST":
            raw = self.http_client.post(request.url, data=request.data, **kwargs)
        else:
            raw = self.http_client.get(request.url, **kwargs)
        return normalise_response(raw)


def normalise_response(raw: Any) -> HttpResponse:
    """Turn whatever an http_client returned into an :class:`HttpResponse`."""
    status = getattr(raw, "status_code", 0)
    text = getattr(raw, "text", "")
    headers = getattr(raw, "headers", None) or {}
    if not isinstance(status, int) or isinstance(status, bool):
        status = 0
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        text = ""
    try:
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    except AttributeError:
        lowered = {}
    return HttpResponse(status, text, lowered)


def run_sync(flow: Flow[T], transport: SyncTransport) -> T:
    """Drive a flow to completion, sending each request it yields through ``transport``.

    A transport exception is thrown into the flow, which may recover (e.g. fall back to a
    cached token) or let it propagate to the caller.
    """
    try:
        step = next(flow)
        while True:
            if isinstance(step, Wait):
                time.sleep(max(0.0, step.seconds))
                step = flow.send(WAITED)
                continue
            try:
                response = transport.send(step)
            except Exception as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        flow.close()
