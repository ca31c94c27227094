"""``httpx`` authentication with an identitylib application (``identitylib[httpx]``).

::

    import httpx
    from identitylib.integrations.httpx_auth import HttpxBearerAuth

    auth = HttpxBearerAuth(app, ["api://my-api/.default"])
    httpx.get("https://api.example.com/items", auth=auth)
    async with httpx.AsyncClient(auth=auth) as client:
        await client.get("https://api.example.com/items")
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Optional

import httpx

from identitylib._protocol._challenge import parse_claims_challenge

from ._common import ProviderAuth, TokenAcquisitionError

__all__ = ["HttpxBearerAuth", "TokenAcquisitionError"]


class HttpxBearerAuth(ProviderAuth, httpx.Auth):
    """An ``httpx.Auth`` attaching ``Authorization: Bearer <token>``, for sync and async clients.

    Behaves as :class:`~identitylib.integrations.requests_auth.BearerAuth`: silent first,
    and on a 401 with a claims challenge in ``WWW-Authenticate`` a fresh token with that
    ``claims_challenge`` and one retry. In an ``httpx.AsyncClient`` the acquisition of
    a blocking application runs in a worker thread; the coroutine methods of an
    ``identitylib.aio`` application are awaited.
    """

    requires_request_body = True  # the body is replayed on a claims-challenge retry

    @staticmethod
    def _claims(response: httpx.Response) -> Optional[str]:
        if response.status_code != 401:
            return None
        return parse_claims_challenge(response.headers.get("WWW-Authenticate", ""))

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.provider.acquire()['access_token']}"
        response = yield request
        claims = self._claims(response)
        if claims is not None:
            token = self.provider.acquire(claims_challenge=claims)["access_token"]
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = (await self.provider.acquire_async())["access_token"]
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        claims = self._claims(response)
        if claims is not None:
            fresh = await self.provider.acquire_async(claims_challenge=claims)
            request.headers["Authorization"] = f"Bearer {fresh['access_token']}"
            yield request
