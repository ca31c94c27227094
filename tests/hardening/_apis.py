"""The blocking and the asyncio API behind one face, so each hardening test runs against both.

``api.cca(...)`` / ``api.pca(...)`` build an application of either API with the same
arguments; ``api.call(app, "method", ...)`` calls one of its methods and returns what the
blocking method would return (the asyncio one runs to completion in a fresh event loop, its
own HTTP clients closed afterwards). ``api.timeout_error`` and ``api.connection_error`` are
the exception types each transport raises for a stalled and an unreachable server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import requests

import identitylib
import identitylib.aio


class Api:
    """One of the two APIs; ``name`` is ``"sync"`` or ``"async"``."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "async":
            import httpx

            self._module: Any = identitylib.aio
            self.timeout_error: tuple[type[BaseException], ...] = (httpx.TimeoutException,)
            self.connection_error: tuple[type[BaseException], ...] = (httpx.TransportError,)
        else:
            self._module = identitylib
            self.timeout_error = (requests.exceptions.Timeout,)
            self.connection_error = (requests.exceptions.ConnectionError,)

    def __repr__(self) -> str:
        return self.name

    @property
    def is_async(self) -> bool:
        return self.name == "async"

    def cca(self, client_id: str, credential: Any, **kwargs: Any) -> Any:
        return self._module.ConfidentialClientApplication(client_id, credential, **kwargs)

    def pca(self, client_id: str, **kwargs: Any) -> Any:
        return self._module.PublicClientApplication(client_id, **kwargs)

    def call(self, app: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        if not self.is_async:
            return getattr(app, method)(*args, **kwargs)

        async def run() -> Any:
            try:
                return await getattr(app, method)(*args, **kwargs)
            finally:
                await app.aclose()

        return asyncio.run(run())

    def transport(self, app: Any) -> Any:
        """The transport that sends the app's requests (for its bounds and policy)."""
        return app._transport
