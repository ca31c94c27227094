"""Hand-written stand-ins the suite keeps because what they stand for is not a server.

An app's own ``http_client`` (msal's interface: an object with ``get`` and ``post`` that
is not a ``requests.Session``) is the client side of the wire: no emulator or
``responses`` can be one. Identity providers are the emulator (``identitylib.emulator``)
or ``responses`` everywhere else.
"""

from __future__ import annotations

import json
from typing import Any

#: The keywords msal's http_client interface passes, by method.
CONTRACT = {"GET": {"params", "headers"}, "POST": {"params", "data", "headers"}}
#: The attributes of a response that msal's interface promises.
READABLE = {"status_code", "text", "headers"}


class BareResponse:
    """A response with msal's three attributes, recording which attributes are read."""

    def __init__(self, body: dict[str, Any], read: list[str]) -> None:
        status = 429 if "error" in body else 200
        headers = {"Retry-After": "1"} if status == 429 else {}
        self._fields = {"status_code": status, "text": json.dumps(body), "headers": headers}
        self._read = read

    def __getattr__(self, name: str) -> Any:
        self._read.append(name)
        if name in self._fields:
            return self._fields[name]
        raise AttributeError(name)


class Recorder:
    """Stands in for ``get``/``post``: records each call's shape, answers from a dict."""

    def __init__(self, method: str, bodies: dict[str, dict[str, Any]]) -> None:
        self.method = method
        self.bodies = bodies
        self.calls: list[tuple[str, int, set[str]]] = []  # (url, positional args, keywords)
        self.read: list[str] = []

    def __call__(self, url: str, *args: Any, **kwargs: Any) -> BareResponse:
        self.calls.append((url, len(args), set(kwargs)))
        return BareResponse(self.bodies[url], self.read)

    def check(self) -> None:
        assert self.calls
        for url, positional, keywords in self.calls:
            assert positional == 0, url
            assert keywords <= CONTRACT[self.method], (url, keywords)
        assert set(self.read) <= READABLE, self.read


class MsalStyleClient:
    """An http_client that is not a requests.Session: ``get`` and ``post`` (each a
    :class:`Recorder` answering from its dict of URL -> JSON body), nothing else."""

    def __init__(
        self,
        get_bodies: dict[str, dict[str, Any]],
        post_bodies: dict[str, dict[str, Any]],
    ) -> None:
        self.get = Recorder("GET", get_bodies)
        self.post = Recorder("POST", post_bodies)
